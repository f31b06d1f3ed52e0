"""The curator's side: the review queue, review mode, the diff, the dashboard's charts."""

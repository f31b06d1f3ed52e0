/* django-feedback-loop widget: placeholder until the widget build lands (widget/). */

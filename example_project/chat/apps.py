from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "example_project.chat"
    label = "demo_chat"

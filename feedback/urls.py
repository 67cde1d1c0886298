"""URLs of the contact and feedback pages."""
from django.urls import path

from . import views

app_name = "feedback"

urlpatterns = [
    path("contact/", views.ContactView.as_view(), name="contact"),
    path("feedback/", views.FeedbackView.as_view(), name="feedback"),
    path("feedback/thanks/", views.ThanksView.as_view(), name="thanks"),
]

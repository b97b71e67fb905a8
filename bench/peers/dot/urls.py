from django.urls import path
from oauth2_provider import views

urlpatterns = [
    path("token", views.TokenView.as_view()),
    path("introspect", views.IntrospectTokenView.as_view()),
]

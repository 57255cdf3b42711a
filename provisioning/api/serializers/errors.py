"""Shapes of error bodies, for the OpenAPI schema (the exception handler produces them)."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()

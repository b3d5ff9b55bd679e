"""Placeholder router: filled in by the resources work of issue 6."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

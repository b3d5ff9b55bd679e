"""Administering people and access (administrators): accounts, roles, disabling, and
whether anonymous visitors may read the twin. Thin over :mod:`tweeling.services.accounts`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tweeling.api import deps
from tweeling.api import resource_support as rs
from tweeling.api.auth_routes import person_json
from tweeling.core.people import MAX_PASSWORD
from tweeling.services import accounts

router = APIRouter(tags=["people"], dependencies=[Depends(deps.role("people.manage"))])
Username = Annotated[str, Path(max_length=64)]


class NewPerson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=64)
    role: str = Field(max_length=20)
    display_name: str = Field("", max_length=100)
    password: str | None = Field(
        None, max_length=MAX_PASSWORD, description="omit to have one generated (shown once)"
    )


class NewRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(max_length=20)


class NewDisabled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool


class NewAccess(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public: bool = Field(description="anonymous visitors read the baseline and published work")


@router.get("/people", summary="The twin's accounts")
def list_people(ws: deps.Twin) -> Response:
    return rs.reply({"people": [person_json(p) for p in ws.store.people.list()]})


@router.post("/people", summary="Add an account", status_code=201, responses=rs.ERRORS)
def add_person(ws: deps.Twin, base: deps.BaseUrl, body: Annotated[NewPerson, Body()]) -> Response:
    person, generated = accounts.add_person(
        ws.store, body.username, body.role, display_name=body.display_name, password=body.password
    )
    out = person_json(person)
    if generated:
        out["password"] = generated  # shown once
    return rs.reply(
        out, 201, {"Location": f"{base}/people/{person.username}", "Cache-Control": "no-store"}
    )


@router.put("/people/{username}/role", summary="Change a person's role", responses=rs.ERRORS)
def put_role(ws: deps.Twin, username: Username, body: Annotated[NewRole, Body()]) -> Response:
    return rs.reply(person_json(accounts.set_role(ws.store, username, body.role)))


@router.put(
    "/people/{username}/disabled",
    summary="Disable (signs them out everywhere) or enable an account",
    responses=rs.ERRORS,
)
def put_disabled(
    ws: deps.Twin, username: Username, body: Annotated[NewDisabled, Body()]
) -> Response:
    return rs.reply(person_json(accounts.set_disabled(ws.store, username, body.disabled)))


@router.get(
    "/access", summary="Who may read the twin", dependencies=[Depends(deps.role("access.manage"))]
)
def get_access(ws: deps.Twin) -> Response:
    return rs.reply({"public": accounts.twin_public(ws.store)})


@router.put(
    "/access",
    summary="Open the twin to anonymous visitors (baseline and published work), or close it",
    dependencies=[Depends(deps.role("access.manage"))],
)
def put_access(ws: deps.Twin, body: Annotated[NewAccess, Body()]) -> Response:
    accounts.set_public(ws.store, body.public)
    return rs.reply({"public": body.public})

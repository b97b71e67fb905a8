"""The seeds' examples as a demo API: how an application guards its routes with ostiary (issue 4).

Mounted only in demo mode (`ostiary serve --demo`, or `create_app(..., demo=True)`); the rules live in
the demo realm (`realm/demo.yaml`). Data is in memory, per process, seeded at start: it is a demo.

- `/items` (seed 001): read by admin, editor and viewer (`items:read`); created with `items:write`.
- `/posts` (seed 004): viewers read; editors create, and update only their own posts (the restricting
  rule `edit-own-posts`: `subject.id == resource.owner`, or an ACL `editor` tuple on the post); admins
  delete any.
- `/food` (seed 000): the scopes `view:food add:food edit:food delete:food`, filtered further by group
  (rule `food-of-my-groups`: `resource.group in subject.groups`, where a member of `kitchen` is also a
  member of its parent `staff`).

An unknown caller gets 401, a known one without the right gets 403 (seed 004).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ostiary.core.errors import NotFound, ValidationFailed
from ostiary.policy import Resource
from ostiary.web.authorization import Authorized, require

router = APIRouter(tags=["demo"])


@dataclass
class Post:
    id: int
    owner: str
    title: str
    body: str


@dataclass
class Food:
    id: int
    name: str
    group: str


@dataclass
class DemoData:
    items: list[dict[str, Any]] = field(
        default_factory=lambda: [{"id": 1, "name": "hammer"}, {"id": 2, "name": "ladder"}]
    )
    posts: dict[int, Post] = field(default_factory=dict)
    food: dict[int, Food] = field(
        default_factory=lambda: {
            1: Food(1, "bread", "kitchen"),
            2: Food(2, "soup", "kitchen"),
            3: Food(3, "coffee", "staff"),
        }
    )
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))


def demo_data(request: Request) -> DemoData:
    data: DemoData = request.app.state.demo_data
    return data


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10_000)


class PostPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")  # `owner` cannot be sent (SEC-57)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=10_000)


class FoodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    group: str = Field(min_length=1, max_length=200)


# --- resource loaders: the application, not the client, says who owns what ------------------------


async def load_post(request: Request) -> Resource:
    post = demo_data(request).posts.get(_int(request.path_params["post_id"]))
    if post is None:
        raise NotFound("No such post.")
    return Resource.of("posts", post.id, owner=post.owner)


async def load_food(request: Request) -> Resource:
    food = demo_data(request).food.get(_int(request.path_params["food_id"]))
    if food is None:
        raise NotFound("No such food.")
    return Resource.of("food", food.id, group=food.group)


async def new_food(request: Request) -> Resource:
    """The food about to be added: its group decides (you add food only to your own groups)."""
    try:
        body = FoodIn.model_validate(await request.json())
    except ValueError as exc:
        raise ValidationFailed(f"invalid food: {exc}") from None
    return Resource.of("food", "new", group=body.group)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise NotFound() from None


# --- the guards ------------------------------------------------------------------------------------

CAN_ITEMS_READ = Depends(require("items:read"))
CAN_ITEMS_WRITE = Depends(require("items:write"))
CAN_POSTS_READ = Depends(require("posts:read"))
CAN_POSTS_READ_POST = Depends(require("posts:read", resource=load_post))
CAN_POSTS_CREATE = Depends(require("posts:create"))
CAN_POSTS_UPDATE_POST = Depends(require("posts:update", resource=load_post))
CAN_POSTS_DELETE_POST = Depends(require("posts:delete", resource=load_post))
CAN_VIEW_FOOD_LISTING = Depends(require("view:food", listing=True))
CAN_ADD_FOOD_NEW_FOOD = Depends(require("add:food", resource=new_food))
CAN_DELETE_FOOD_FOOD = Depends(require("delete:food", resource=load_food))


# --- /items (seed 001) -----------------------------------------------------------------------------


@router.get("/items")
async def list_items(request: Request, _: Authorized = CAN_ITEMS_READ) -> dict[str, Any]:
    return {"items": demo_data(request).items}


@router.post("/items", status_code=201)
async def add_item(body: ItemIn, request: Request, _: Authorized = CAN_ITEMS_WRITE) -> dict[str, Any]:
    data = demo_data(request)
    item = {"id": next(data.ids), "name": body.name}
    data.items.append(item)
    return item


# --- /posts (seed 004) -----------------------------------------------------------------------------


@router.get("/posts")
async def list_posts(request: Request, _: Authorized = CAN_POSTS_READ) -> dict[str, Any]:
    return {"posts": [asdict(p) for p in demo_data(request).posts.values()]}


@router.get("/posts/{post_id}")
async def get_post(post_id: str, request: Request, authz: Authorized = CAN_POSTS_READ_POST) -> dict[str, Any]:
    return asdict(demo_data(request).posts[int(post_id)])


@router.post("/posts", status_code=201)
async def create_post(body: PostIn, request: Request, authz: Authorized = CAN_POSTS_CREATE) -> dict[str, Any]:
    data = demo_data(request)
    post = Post(next(data.ids), authz.subject.id, body.title, body.body)  # the owner is the caller
    data.posts[post.id] = post
    return asdict(post)


@router.patch("/posts/{post_id}")
async def update_post(
    post_id: str,
    body: PostPatch,
    request: Request,
    _: Authorized = CAN_POSTS_UPDATE_POST,
) -> dict[str, Any]:
    post = demo_data(request).posts[int(post_id)]
    if body.title is not None:
        post.title = body.title
    if body.body is not None:
        post.body = body.body
    return asdict(post)


@router.delete("/posts/{post_id}", status_code=204, response_model=None)
async def delete_post(post_id: str, request: Request, _: Authorized = CAN_POSTS_DELETE_POST) -> Response:
    demo_data(request).posts.pop(int(post_id), None)
    return Response(status_code=204)


# --- /food (seed 000) ------------------------------------------------------------------------------


@router.get("/food")
async def list_food(request: Request, authz: Authorized = CAN_VIEW_FOOD_LISTING) -> dict[str, Any]:
    visible = [
        asdict(f)
        for f in demo_data(request).food.values()
        if authz.allows("view:food", Resource.of("food", f.id, group=f.group))
    ]
    return {"food": visible}


@router.post("/food", status_code=201)
async def add_food(body: FoodIn, request: Request, _: Authorized = CAN_ADD_FOOD_NEW_FOOD) -> dict[str, Any]:
    data = demo_data(request)
    food = Food(next(data.ids), body.name, body.group)
    data.food[food.id] = food
    return asdict(food)


@router.delete("/food/{food_id}", status_code=204, response_model=None)
async def delete_food(food_id: str, request: Request, _: Authorized = CAN_DELETE_FOOD_FOOD) -> Response:
    demo_data(request).food.pop(int(food_id), None)
    return Response(status_code=204)

"""End-to-end encrypted uploads at the node: opaque bytes under the per-kind size limits, random ids, no
sniffing or probing, ranges over the ciphertext, on the local store and on S3."""

from __future__ import annotations

import os
from typing import Any

import boto3
from media_files import BUCKET, CREDS

Signup = Any


async def test_encrypted_uploads_keep_the_size_limit_and_refuse_plain_metadata(signup: Signup) -> None:
    alice = await signup()
    too_big = await alice.http.post(
        "/v1/media", params={"kind": "voice", "encrypted": "true"}, content=bytes(16_000_001)
    )
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
    named = await alice.http.post(
        "/v1/media", params={"kind": "photo", "encrypted": "true", "filename": "a.png"}, content=b"x"
    )
    assert named.status_code == 422 and named.json()["error"] == "metadata_not_allowed"
    opaque = await alice.http.post(
        "/v1/media", params={"kind": "photo", "encrypted": "true"}, content=b"\x01" * 9
    )
    assert opaque.status_code == 201 and opaque.json()["kind"] == "photo"  # the node does not look inside
    assert (
        opaque.json()["id"]
        != (
            await alice.http.post(
                "/v1/media", params={"kind": "photo", "encrypted": "true"}, content=b"\x01" * 9
            )
        ).json()["id"]
    )  # the same bytes again: another object (no content address, no dedup)
    past_end = await alice.http.get(f"/v1/media/{opaque.json()['id']}", headers={"Range": "bytes=9-"})
    assert past_end.status_code == 416


async def test_encrypted_objects_on_s3_are_stored_as_uploaded(
    s3_node: Any, s3_endpoint: str, signup: Signup
) -> None:
    alice, bob = await signup(node_=s3_node), await signup(node_=s3_node)
    chat = await alice.open_private(bob.user_id)
    ciphertext = os.urandom(300_000)
    params = {"kind": "video", "encrypted": "true", "chat_id": chat}
    up = await alice.http.post("/v1/media", params=params, content=ciphertext)
    assert up.status_code == 201 and up.json()["encrypted"] is True
    media_id = up.json()["id"]
    assert (await bob.http.get(f"/v1/media/{media_id}")).content == ciphertext
    part = await bob.http.get(f"/v1/media/{media_id}", headers={"Range": "bytes=131070-131080"})
    assert part.status_code == 206 and part.content == ciphertext[131070:131081]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **CREDS)
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"] if media_id in o["Key"]]
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == ciphertext  # not re-sealed

"""The S3 backend against moto's S3-compatible server on loopback (started by the test)."""

from __future__ import annotations

from typing import Any

import boto3
from media_files import BUCKET, CREDS, PDF, png

from messenger.media.crypto import sealed_size


async def test_s3_roundtrip_ranges_and_sealed_objects(s3_node: Any, s3_endpoint: str, signup: Any) -> None:
    alice, bob = await signup(node_=s3_node), await signup(node_=s3_node)
    chat = await alice.open_private(bob.user_id)
    data = PDF + b"S3-PLAINTEXT" * 20_000  # 240 KB: four sealed chunks
    doc = (
        await alice.http.post("/v1/media", params={"kind": "document", "chat_id": chat}, content=data)
    ).json()
    photo = (
        await alice.http.post("/v1/media", params={"kind": "photo", "chat_id": chat}, content=png(400, 300))
    ).json()
    assert (await bob.http.get(f"/v1/media/{doc['id']}")).content == data
    part = await bob.http.get(f"/v1/media/{doc['id']}", headers={"Range": "bytes=131070-131080"})
    assert part.status_code == 206 and part.content == data[131070:131081]
    thumb = await bob.http.get(f"/v1/media/{photo['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"  # JPEG SOI

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **CREDS)
    listed = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    (doc_key,) = [k for k in listed if doc["id"] in k and not k.endswith(".thumb")]
    assert doc_key.startswith("node-a/objects/")
    assert listed[doc_key] == sealed_size(len(data))
    assert b"S3-PLAINTEXT" not in s3.get_object(Bucket=BUCKET, Key=doc_key)["Body"].read()
    assert any(k.endswith(".thumb") and photo["id"] in k for k in listed)
    assert not (s3_node.data_dir / "media" / "objects").exists()  # nothing stored locally
    assert list((s3_node.data_dir / "media-spool").iterdir()) == []

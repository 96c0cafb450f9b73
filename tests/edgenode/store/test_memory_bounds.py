"""What the store keeps in memory stays bounded however many entities it writes."""

from __future__ import annotations

import pytest

from crdt import Update
from edgenode.store import Store, materialize
from support.builders import CHANNEL, post, team_and_channel


async def test_the_existence_cache_stays_under_its_limit_and_forgotten_entities_still_take_updates(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(materialize, "KNOWN_LIMIT", 50)
    await store.write("directory", team_and_channel())
    materializer = store._writer._mat
    assert materializer is not None
    sizes = []
    for batch in range(8):
        await store.write(f"channel:{CHANNEL}", [post(f"{batch:02d}{i:024d}", f"m {i}") for i in range(20)])
        sizes.append(materializer.known)
    assert max(sizes) <= 50
    first = f"{0:02d}{0:024d}"  # created 160 posts ago: no longer in the cache
    await store.write(f"channel:{CHANNEL}", [Update("post", first, {"message": "edited"})])
    row = await store.fetchone("SELECT message FROM posts WHERE id = ?", (first,))
    assert row["message"] == "edited"

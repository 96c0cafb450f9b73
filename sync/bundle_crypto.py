"""How a bundle's records are sealed: in clear (public data), to one node, or to a passphrase.

Standard pynacl constructions only. Every sealed bundle is one crypto_secretstream_xchacha20poly1305
stream under a random key; what differs is how that key travels in the header:
- to a node: a sealed box (X25519, from the recipient's ed25519 node key) holding the key, so only
  that node's private key opens it;
- to a passphrase: the key is derived with argon2id (nacl.pwhash) from the passphrase and a random
  salt; the cost parameters travel in the header and are capped when read (a hostile header must
  not make the reader allocate gigabytes).
The stream authenticates every record, their order, and the end (the last record carries the
FINAL tag), so a cut or reordered file does not open. The header travels in clear and is bound to
the stream as associated data of every record.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import nacl.bindings as _b
import nacl.exceptions
import nacl.pwhash
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

from .bundle_errors import BundleKeyError, BundleSizeError
from .errors import DecodeError

__all__ = [
    "Sealing", "KeyWrap", "RecordSealer", "RecordOpener", "seal_plain", "seal_for_node", "seal_for_passphrase",
    "open_plain", "open_for_node", "open_with_passphrase", "ABYTES", "DEFAULT_OPSLIMIT", "DEFAULT_MEMLIMIT",
    "MAX_MEMLIMIT", "MAX_OPSLIMIT",
]

ABYTES: int = _b.crypto_secretstream_xchacha20poly1305_ABYTES
_KEY_BYTES: int = _b.crypto_secretstream_xchacha20poly1305_KEYBYTES
_HEADER_BYTES: int = _b.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_TAG_MESSAGE: int = _b.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL: int = _b.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_SALT_BYTES: int = nacl.pwhash.argon2id.SALTBYTES
DEFAULT_OPSLIMIT: int = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
DEFAULT_MEMLIMIT: int = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
"""64 MiB: a passphrase import stays within the 200 MB the import is promised to fit in."""
MAX_OPSLIMIT = 16
MAX_MEMLIMIT = 256 * 1024 * 1024


class Sealing(enum.Enum):
    PLAIN = "plain"
    NODE = "node"
    PASSPHRASE = "passphrase"


@dataclass(frozen=True, slots=True)
class KeyWrap:
    """What the header says about the stream key: how it is sealed, and the stream's header."""

    sealing: Sealing
    wrapped: bytes = b""
    """The sealed box holding the key (NODE) or the argon2id salt (PASSPHRASE)."""
    opslimit: int = 0
    memlimit: int = 0
    stream_header: bytes = b""

    def check(self) -> None:
        """Refuse parameters no writer of ours produces (and a reader must not act on)."""
        if self.sealing is Sealing.PLAIN:
            if self.wrapped or self.stream_header or self.opslimit or self.memlimit:
                raise DecodeError("a bundle in clear carries no key")
            return
        if len(self.stream_header) != _HEADER_BYTES:
            raise DecodeError(f"the stream header must be {_HEADER_BYTES} bytes")
        if self.sealing is Sealing.NODE:
            if len(self.wrapped) != _b.crypto_box_SEALBYTES + _KEY_BYTES or self.opslimit or self.memlimit:
                raise DecodeError("a bundle sealed to a node carries one sealed key")
            return
        if len(self.wrapped) != _SALT_BYTES:
            raise DecodeError(f"a passphrase bundle's salt must be {_SALT_BYTES} bytes")
        if not 1 <= self.opslimit <= MAX_OPSLIMIT or not 8192 <= self.memlimit <= MAX_MEMLIMIT:
            raise BundleSizeError(f"the passphrase key costs opslimit {self.opslimit}, memlimit {self.memlimit}: "
                                  f"beyond what this node allows ({MAX_OPSLIMIT}, {MAX_MEMLIMIT} bytes)")


class RecordSealer(Protocol):
    def seal(self, record: bytes, associated: bytes, final: bool) -> bytes: ...


class RecordOpener(Protocol):
    """Opens one record; returns it and whether it was marked as the last."""

    def open(self, frame: bytes, associated: bytes) -> tuple[bytes, bool]: ...


class _Plain:
    """No encryption: integrity comes from the exporter's signature over the whole file."""

    def seal(self, record: bytes, associated: bytes, final: bool) -> bytes:
        return record

    def open(self, frame: bytes, associated: bytes) -> tuple[bytes, bool]:
        return frame, False


class _Push:
    def __init__(self, key: bytes):
        self._state = _b.crypto_secretstream_xchacha20poly1305_state()
        self.header: bytes = _b.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)

    def seal(self, record: bytes, associated: bytes, final: bool) -> bytes:
        tag = _TAG_FINAL if final else _TAG_MESSAGE
        sealed: bytes = _b.crypto_secretstream_xchacha20poly1305_push(self._state, record, associated, tag)
        return sealed


class _Pull:
    def __init__(self, key: bytes, header: bytes):
        self._state = _b.crypto_secretstream_xchacha20poly1305_state()
        _b.crypto_secretstream_xchacha20poly1305_init_pull(self._state, header, key)

    def open(self, frame: bytes, associated: bytes) -> tuple[bytes, bool]:
        if len(frame) < ABYTES:
            raise BundleKeyError("a sealed record is shorter than its authentication tag: the file is damaged")
        try:
            record, tag = _b.crypto_secretstream_xchacha20poly1305_pull(self._state, frame, associated)
        except nacl.exceptions.CryptoError:
            raise BundleKeyError("a record does not decrypt: the file was altered, or the key is not this "
                                 "bundle's") from None
        return bytes(record), tag == _TAG_FINAL


def seal_plain() -> tuple[KeyWrap, RecordSealer]:
    return KeyWrap(Sealing.PLAIN), _Plain()


def seal_for_node(recipient: bytes) -> tuple[KeyWrap, RecordSealer]:
    """A fresh stream key, sealed to the node whose ed25519 public key is `recipient`."""
    key = _b.crypto_secretstream_xchacha20poly1305_keygen()
    try:
        box = SealedBox(PublicKey(bytes(VerifyKey(recipient).to_curve25519_public_key())))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise BundleKeyError(f"{recipient.hex()[:16]} is not a node key a bundle can be sealed to") from None
    push = _Push(key)
    return KeyWrap(Sealing.NODE, box.encrypt(key), stream_header=push.header), push


def seal_for_passphrase(passphrase: str, *, opslimit: int = DEFAULT_OPSLIMIT,
                        memlimit: int = DEFAULT_MEMLIMIT, salt: bytes | None = None) -> tuple[KeyWrap, RecordSealer]:
    if not passphrase:
        raise BundleKeyError("a passphrase bundle needs a passphrase that is not empty")
    salt = salt if salt is not None else nacl.utils.random(_SALT_BYTES)
    key = _derive(passphrase, salt, opslimit, memlimit)
    push = _Push(key)
    return KeyWrap(Sealing.PASSPHRASE, salt, opslimit, memlimit, push.header), push


def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    key: bytes = nacl.pwhash.argon2id.kdf(_KEY_BYTES, passphrase.encode(), salt, opslimit=opslimit, memlimit=memlimit)
    return key


def open_plain(wrap: KeyWrap) -> RecordOpener:
    if wrap.sealing is not Sealing.PLAIN:
        raise BundleKeyError(f"the bundle is sealed ({wrap.sealing.value}): open it with its key")
    return _Plain()


def open_for_node(wrap: KeyWrap, seed: bytes) -> RecordOpener:
    """Open a bundle sealed to the node whose private seed is `seed`."""
    if wrap.sealing is not Sealing.NODE:
        raise BundleKeyError(f"the bundle is not sealed to a node ({wrap.sealing.value})")
    private = PrivateKey(bytes(SigningKey(seed).to_curve25519_private_key()))
    try:
        key = SealedBox(private).decrypt(wrap.wrapped)
    except nacl.exceptions.CryptoError:
        raise BundleKeyError("the bundle's key is sealed to another node: this node cannot open it") from None
    return _Pull(key, wrap.stream_header)


def open_with_passphrase(wrap: KeyWrap, passphrase: str) -> RecordOpener:
    if wrap.sealing is not Sealing.PASSPHRASE:
        raise BundleKeyError(f"the bundle is not sealed to a passphrase ({wrap.sealing.value})")
    wrap.check()
    return _Pull(_derive(passphrase, wrap.wrapped, wrap.opslimit, wrap.memlimit), wrap.stream_header)

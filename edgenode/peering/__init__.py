"""The node's side of peer sync, in one place: settings, mesh trust and admission, need-to-know,
blobs, revocations, the sync service and its status, opened by `open_peering`.

Depends on sync/ (the protocol, transports, discovery) and on the node's store and services; nothing
here imports edgenode/node.py, which opens it.
"""

from .admission import AdmittingStore, NotEnrolledError, secure_settings
from .need_to_know import NeedToKnow, PeerNeedToKnow
from .ports import LiveFeedStore, StatusSource, StoreReads
from .runtime import Peering, PeeringSettings, open_peering, sync_now
from .service import SyncService, status_document, sync_once
from .settings import DEFAULT_SYNC_PORT, UNENROLLED_MESH, SyncSettings
from .status import complete_status, folder_status

__all__ = [
    "AdmittingStore", "NotEnrolledError", "secure_settings", "NeedToKnow", "PeerNeedToKnow", "LiveFeedStore",
    "StatusSource", "StoreReads", "Peering", "PeeringSettings", "open_peering", "sync_now", "SyncService",
    "sync_once", "DEFAULT_SYNC_PORT", "UNENROLLED_MESH", "SyncSettings", "complete_status", "folder_status",
    "status_document",
]

from barque.types.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PullStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PULL_STATUS_UNSPECIFIED: _ClassVar[PullStatus]
    PULL_STATUS_RESOLVING: _ClassVar[PullStatus]
    PULL_STATUS_WAITING: _ClassVar[PullStatus]
    PULL_STATUS_DOWNLOADING: _ClassVar[PullStatus]
    PULL_STATUS_VERIFYING: _ClassVar[PullStatus]
    PULL_STATUS_EXTRACTING: _ClassVar[PullStatus]
    PULL_STATUS_ALREADY_EXISTS: _ClassVar[PullStatus]
    PULL_STATUS_DONE: _ClassVar[PullStatus]
    PULL_STATUS_RESOLVED: _ClassVar[PullStatus]

class ChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_KIND_MODIFIED: _ClassVar[ChangeKind]
    CHANGE_KIND_ADDED: _ClassVar[ChangeKind]
    CHANGE_KIND_DELETED: _ClassVar[ChangeKind]

class PushStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PUSH_STATUS_UNSPECIFIED: _ClassVar[PushStatus]
    PUSH_STATUS_PREPARING: _ClassVar[PushStatus]
    PUSH_STATUS_WAITING: _ClassVar[PushStatus]
    PUSH_STATUS_PUSHING: _ClassVar[PushStatus]
    PUSH_STATUS_PUSHED: _ClassVar[PushStatus]
    PUSH_STATUS_EXISTS: _ClassVar[PushStatus]
    PUSH_STATUS_MOUNTED: _ClassVar[PushStatus]
    PUSH_STATUS_TAG_DONE: _ClassVar[PushStatus]
    PUSH_STATUS_INFO: _ClassVar[PushStatus]

class SaveFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAVE_FORMAT_UNSPECIFIED: _ClassVar[SaveFormat]
    SAVE_FORMAT_DOCKER: _ClassVar[SaveFormat]
    SAVE_FORMAT_OCI: _ClassVar[SaveFormat]
PULL_STATUS_UNSPECIFIED: PullStatus
PULL_STATUS_RESOLVING: PullStatus
PULL_STATUS_WAITING: PullStatus
PULL_STATUS_DOWNLOADING: PullStatus
PULL_STATUS_VERIFYING: PullStatus
PULL_STATUS_EXTRACTING: PullStatus
PULL_STATUS_ALREADY_EXISTS: PullStatus
PULL_STATUS_DONE: PullStatus
PULL_STATUS_RESOLVED: PullStatus
CHANGE_KIND_MODIFIED: ChangeKind
CHANGE_KIND_ADDED: ChangeKind
CHANGE_KIND_DELETED: ChangeKind
PUSH_STATUS_UNSPECIFIED: PushStatus
PUSH_STATUS_PREPARING: PushStatus
PUSH_STATUS_WAITING: PushStatus
PUSH_STATUS_PUSHING: PushStatus
PUSH_STATUS_PUSHED: PushStatus
PUSH_STATUS_EXISTS: PushStatus
PUSH_STATUS_MOUNTED: PushStatus
PUSH_STATUS_TAG_DONE: PushStatus
PUSH_STATUS_INFO: PushStatus
SAVE_FORMAT_UNSPECIFIED: SaveFormat
SAVE_FORMAT_DOCKER: SaveFormat
SAVE_FORMAT_OCI: SaveFormat

class Image(_message.Message):
    __slots__ = ("id", "repo_tags", "repo_digests", "target", "manifest", "config", "layers", "diff_ids", "created", "size", "config_json", "platform", "chain_id", "tag_digests", "diff_sizes", "parent", "cache_key")
    class TagDigestsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    REPO_TAGS_FIELD_NUMBER: _ClassVar[int]
    REPO_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    DIFF_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    DIFF_SIZES_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CACHE_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    repo_tags: _containers.RepeatedScalarFieldContainer[str]
    repo_digests: _containers.RepeatedScalarFieldContainer[str]
    target: _types_pb2.Descriptor
    manifest: _types_pb2.Descriptor
    config: _types_pb2.Descriptor
    layers: _containers.RepeatedCompositeFieldContainer[_types_pb2.Descriptor]
    diff_ids: _containers.RepeatedScalarFieldContainer[str]
    created: str
    size: int
    config_json: bytes
    platform: _types_pb2.Platform
    chain_id: str
    tag_digests: _containers.ScalarMap[str, str]
    diff_sizes: _containers.RepeatedScalarFieldContainer[int]
    parent: str
    cache_key: str
    def __init__(self, id: _Optional[str] = ..., repo_tags: _Optional[_Iterable[str]] = ..., repo_digests: _Optional[_Iterable[str]] = ..., target: _Optional[_Union[_types_pb2.Descriptor, _Mapping]] = ..., manifest: _Optional[_Union[_types_pb2.Descriptor, _Mapping]] = ..., config: _Optional[_Union[_types_pb2.Descriptor, _Mapping]] = ..., layers: _Optional[_Iterable[_Union[_types_pb2.Descriptor, _Mapping]]] = ..., diff_ids: _Optional[_Iterable[str]] = ..., created: _Optional[str] = ..., size: _Optional[int] = ..., config_json: _Optional[bytes] = ..., platform: _Optional[_Union[_types_pb2.Platform, _Mapping]] = ..., chain_id: _Optional[str] = ..., tag_digests: _Optional[_Mapping[str, str]] = ..., diff_sizes: _Optional[_Iterable[int]] = ..., parent: _Optional[str] = ..., cache_key: _Optional[str] = ...) -> None: ...

class PullRequest(_message.Message):
    __slots__ = ("reference", "platform")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    reference: str
    platform: _types_pb2.Platform
    def __init__(self, reference: _Optional[str] = ..., platform: _Optional[_Union[_types_pb2.Platform, _Mapping]] = ...) -> None: ...

class PullResponse(_message.Message):
    __slots__ = ("id", "status", "current", "total", "message", "image", "up_to_date")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    UP_TO_DATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: PullStatus
    current: int
    total: int
    message: str
    image: Image
    up_to_date: bool
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[PullStatus, str]] = ..., current: _Optional[int] = ..., total: _Optional[int] = ..., message: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., up_to_date: _Optional[bool] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ...) -> None: ...

class InspectRequest(_message.Message):
    __slots__ = ("reference",)
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    def __init__(self, reference: _Optional[str] = ...) -> None: ...

class InspectResponse(_message.Message):
    __slots__ = ("image", "image_json")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_JSON_FIELD_NUMBER: _ClassVar[int]
    image: Image
    image_json: str
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., image_json: _Optional[str] = ...) -> None: ...

class TagRequest(_message.Message):
    __slots__ = ("source", "target")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    source: str
    target: str
    def __init__(self, source: _Optional[str] = ..., target: _Optional[str] = ...) -> None: ...

class TagResponse(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class RemoveRequest(_message.Message):
    __slots__ = ("reference", "force")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    force: bool
    def __init__(self, reference: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RemoveResponse(_message.Message):
    __slots__ = ("untagged", "deleted")
    UNTAGGED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    untagged: _containers.RepeatedScalarFieldContainer[str]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, untagged: _Optional[_Iterable[str]] = ..., deleted: _Optional[_Iterable[str]] = ...) -> None: ...

class PrepareSnapshotRequest(_message.Message):
    __slots__ = ("key", "image")
    KEY_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    key: str
    image: str
    def __init__(self, key: _Optional[str] = ..., image: _Optional[str] = ...) -> None: ...

class PrepareSnapshotResponse(_message.Message):
    __slots__ = ("mounts", "lowerdirs", "upperdir", "workdir", "image_id")
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    LOWERDIRS_FIELD_NUMBER: _ClassVar[int]
    UPPERDIR_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    mounts: _containers.RepeatedCompositeFieldContainer[_types_pb2.Mount]
    lowerdirs: _containers.RepeatedScalarFieldContainer[str]
    upperdir: str
    workdir: str
    image_id: str
    def __init__(self, mounts: _Optional[_Iterable[_Union[_types_pb2.Mount, _Mapping]]] = ..., lowerdirs: _Optional[_Iterable[str]] = ..., upperdir: _Optional[str] = ..., workdir: _Optional[str] = ..., image_id: _Optional[str] = ...) -> None: ...

class RemoveSnapshotRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class RemoveSnapshotResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DriverStatus(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("build", "images", "driver", "driver_status")
    BUILD_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    DRIVER_STATUS_FIELD_NUMBER: _ClassVar[int]
    build: _types_pb2.BuildInfo
    images: int
    driver: str
    driver_status: _containers.RepeatedCompositeFieldContainer[DriverStatus]
    def __init__(self, build: _Optional[_Union[_types_pb2.BuildInfo, _Mapping]] = ..., images: _Optional[int] = ..., driver: _Optional[str] = ..., driver_status: _Optional[_Iterable[_Union[DriverStatus, _Mapping]]] = ...) -> None: ...

class EventsRequest(_message.Message):
    __slots__ = ("since_nanos", "until_nanos", "filters")
    SINCE_NANOS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_NANOS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    since_nanos: int
    until_nanos: int
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, since_nanos: _Optional[int] = ..., until_nanos: _Optional[int] = ..., filters: _Optional[_Iterable[str]] = ...) -> None: ...

class EventsResponse(_message.Message):
    __slots__ = ("type", "action", "id", "attributes", "time_nanos")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    TIME_NANOS_FIELD_NUMBER: _ClassVar[int]
    type: str
    action: str
    id: str
    attributes: _containers.ScalarMap[str, str]
    time_nanos: int
    def __init__(self, type: _Optional[str] = ..., action: _Optional[str] = ..., id: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., time_nanos: _Optional[int] = ...) -> None: ...

class ChangesRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class Change(_message.Message):
    __slots__ = ("path", "kind")
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    path: str
    kind: ChangeKind
    def __init__(self, path: _Optional[str] = ..., kind: _Optional[_Union[ChangeKind, str]] = ...) -> None: ...

class ChangesResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[Change]
    def __init__(self, changes: _Optional[_Iterable[_Union[Change, _Mapping]]] = ...) -> None: ...

class CommitRequest(_message.Message):
    __slots__ = ("key", "parent", "config_json", "reference", "author", "comment", "created_by", "container_id", "empty_layer", "created_nanos", "clamp_mtime", "cache_key")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    EMPTY_LAYER_FIELD_NUMBER: _ClassVar[int]
    CREATED_NANOS_FIELD_NUMBER: _ClassVar[int]
    CLAMP_MTIME_FIELD_NUMBER: _ClassVar[int]
    CACHE_KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    parent: str
    config_json: bytes
    reference: str
    author: str
    comment: str
    created_by: str
    container_id: str
    empty_layer: bool
    created_nanos: int
    clamp_mtime: int
    cache_key: str
    def __init__(self, key: _Optional[str] = ..., parent: _Optional[str] = ..., config_json: _Optional[bytes] = ..., reference: _Optional[str] = ..., author: _Optional[str] = ..., comment: _Optional[str] = ..., created_by: _Optional[str] = ..., container_id: _Optional[str] = ..., empty_layer: _Optional[bool] = ..., created_nanos: _Optional[int] = ..., clamp_mtime: _Optional[int] = ..., cache_key: _Optional[str] = ...) -> None: ...

class LookupBuildCacheRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class LookupBuildCacheResponse(_message.Message):
    __slots__ = ("found", "image")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    found: bool
    image: Image
    def __init__(self, found: _Optional[bool] = ..., image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class PruneBuildCacheRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class PruneBuildCacheResponse(_message.Message):
    __slots__ = ("entries", "deleted", "reclaimed_bytes")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    RECLAIMED_BYTES_FIELD_NUMBER: _ClassVar[int]
    entries: int
    deleted: _containers.RepeatedScalarFieldContainer[str]
    reclaimed_bytes: int
    def __init__(self, entries: _Optional[int] = ..., deleted: _Optional[_Iterable[str]] = ..., reclaimed_bytes: _Optional[int] = ...) -> None: ...

class CommitResponse(_message.Message):
    __slots__ = ("image", "layer")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    image: Image
    layer: _types_pb2.Descriptor
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., layer: _Optional[_Union[_types_pb2.Descriptor, _Mapping]] = ...) -> None: ...

class PushRequest(_message.Message):
    __slots__ = ("reference", "all_tags", "platform")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ALL_TAGS_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    reference: str
    all_tags: bool
    platform: _types_pb2.Platform
    def __init__(self, reference: _Optional[str] = ..., all_tags: _Optional[bool] = ..., platform: _Optional[_Union[_types_pb2.Platform, _Mapping]] = ...) -> None: ...

class PushResponse(_message.Message):
    __slots__ = ("id", "status", "current", "total", "message", "tag", "digest", "size")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: PushStatus
    current: int
    total: int
    message: str
    tag: str
    digest: str
    size: int
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[PushStatus, str]] = ..., current: _Optional[int] = ..., total: _Optional[int] = ..., message: _Optional[str] = ..., tag: _Optional[str] = ..., digest: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class SaveRequest(_message.Message):
    __slots__ = ("references", "format")
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    references: _containers.RepeatedScalarFieldContainer[str]
    format: SaveFormat
    def __init__(self, references: _Optional[_Iterable[str]] = ..., format: _Optional[_Union[SaveFormat, str]] = ...) -> None: ...

class SaveResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class LoadRequest(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class LoadResponse(_message.Message):
    __slots__ = ("message", "image")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    image: Image
    def __init__(self, message: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class ImportHeader(_message.Message):
    __slots__ = ("reference", "config_json", "message", "platform", "source")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    config_json: bytes
    message: str
    platform: _types_pb2.Platform
    source: str
    def __init__(self, reference: _Optional[str] = ..., config_json: _Optional[bytes] = ..., message: _Optional[str] = ..., platform: _Optional[_Union[_types_pb2.Platform, _Mapping]] = ..., source: _Optional[str] = ...) -> None: ...

class ImportRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: ImportHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[ImportHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ImportResponse(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class DiskUsageRequest(_message.Message):
    __slots__ = ("types",)
    TYPES_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, types: _Optional[_Iterable[str]] = ...) -> None: ...

class ImageUsage(_message.Message):
    __slots__ = ("image", "shared_size", "unique_size", "containers")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    SHARED_SIZE_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    image: Image
    shared_size: int
    unique_size: int
    containers: int
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., shared_size: _Optional[int] = ..., unique_size: _Optional[int] = ..., containers: _Optional[int] = ...) -> None: ...

class BuildCacheUsage(_message.Message):
    __slots__ = ("id", "cache_type", "size", "created", "last_used", "usage_count", "in_use", "shared", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_FIELD_NUMBER: _ClassVar[int]
    USAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    IN_USE_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    cache_type: str
    size: int
    created: str
    last_used: str
    usage_count: int
    in_use: bool
    shared: bool
    description: str
    def __init__(self, id: _Optional[str] = ..., cache_type: _Optional[str] = ..., size: _Optional[int] = ..., created: _Optional[str] = ..., last_used: _Optional[str] = ..., usage_count: _Optional[int] = ..., in_use: _Optional[bool] = ..., shared: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class DiskUsageResponse(_message.Message):
    __slots__ = ("images", "layers_size", "build_cache", "content_size")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_SIZE_FIELD_NUMBER: _ClassVar[int]
    BUILD_CACHE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[ImageUsage]
    layers_size: int
    build_cache: _containers.RepeatedCompositeFieldContainer[BuildCacheUsage]
    content_size: int
    def __init__(self, images: _Optional[_Iterable[_Union[ImageUsage, _Mapping]]] = ..., layers_size: _Optional[int] = ..., build_cache: _Optional[_Iterable[_Union[BuildCacheUsage, _Mapping]]] = ..., content_size: _Optional[int] = ...) -> None: ...

class PruneImagesRequest(_message.Message):
    __slots__ = ("all", "filters")
    ALL_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    all: bool
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, all: _Optional[bool] = ..., filters: _Optional[_Iterable[str]] = ...) -> None: ...

class PruneImagesResponse(_message.Message):
    __slots__ = ("deleted", "space_reclaimed")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SPACE_RECLAIMED_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedCompositeFieldContainer[ImageDeleteEntry]
    space_reclaimed: int
    def __init__(self, deleted: _Optional[_Iterable[_Union[ImageDeleteEntry, _Mapping]]] = ..., space_reclaimed: _Optional[int] = ...) -> None: ...

class ImageDeleteEntry(_message.Message):
    __slots__ = ("untagged", "deleted")
    UNTAGGED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    untagged: str
    deleted: str
    def __init__(self, untagged: _Optional[str] = ..., deleted: _Optional[str] = ...) -> None: ...

class HoldLeaseRequest(_message.Message):
    __slots__ = ("what", "images")
    WHAT_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    what: str
    images: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, what: _Optional[str] = ..., images: _Optional[_Iterable[str]] = ...) -> None: ...

class HoldLeaseResponse(_message.Message):
    __slots__ = ("held",)
    HELD_FIELD_NUMBER: _ClassVar[int]
    held: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, held: _Optional[_Iterable[str]] = ...) -> None: ...

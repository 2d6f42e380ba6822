from barque.types.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PushBlobOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PUSH_BLOB_OUTCOME_UNSPECIFIED: _ClassVar[PushBlobOutcome]
    PUSH_BLOB_OUTCOME_UPLOADED: _ClassVar[PushBlobOutcome]
    PUSH_BLOB_OUTCOME_EXISTS: _ClassVar[PushBlobOutcome]
    PUSH_BLOB_OUTCOME_MOUNTED: _ClassVar[PushBlobOutcome]
PUSH_BLOB_OUTCOME_UNSPECIFIED: PushBlobOutcome
PUSH_BLOB_OUTCOME_UPLOADED: PushBlobOutcome
PUSH_BLOB_OUTCOME_EXISTS: PushBlobOutcome
PUSH_BLOB_OUTCOME_MOUNTED: PushBlobOutcome

class ResolveRequest(_message.Message):
    __slots__ = ("reference", "platform")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    reference: str
    platform: _types_pb2.Platform
    def __init__(self, reference: _Optional[str] = ..., platform: _Optional[_Union[_types_pb2.Platform, _Mapping]] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("name", "repository", "target", "manifest")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    name: str
    repository: str
    target: _types_pb2.Descriptor
    manifest: _types_pb2.Descriptor
    def __init__(self, name: _Optional[str] = ..., repository: _Optional[str] = ..., target: _Optional[_Union[_types_pb2.Descriptor, _Mapping]] = ..., manifest: _Optional[_Union[_types_pb2.Descriptor, _Mapping]] = ...) -> None: ...

class GetManifestRequest(_message.Message):
    __slots__ = ("repository", "digest")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    repository: str
    digest: str
    def __init__(self, repository: _Optional[str] = ..., digest: _Optional[str] = ...) -> None: ...

class GetManifestResponse(_message.Message):
    __slots__ = ("descriptor", "content")
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    descriptor: _types_pb2.Descriptor
    content: bytes
    def __init__(self, descriptor: _Optional[_Union[_types_pb2.Descriptor, _Mapping]] = ..., content: _Optional[bytes] = ...) -> None: ...

class FetchBlobRequest(_message.Message):
    __slots__ = ("repository", "digest", "offset", "size")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    repository: str
    digest: str
    offset: int
    size: int
    def __init__(self, repository: _Optional[str] = ..., digest: _Optional[str] = ..., offset: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class FetchBlobResponse(_message.Message):
    __slots__ = ("offset", "data", "total")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    total: int
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ..., total: _Optional[int] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("registry", "username", "password")
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    registry: str
    username: str
    password: str
    def __init__(self, registry: _Optional[str] = ..., username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("registry",)
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    registry: str
    def __init__(self, registry: _Optional[str] = ...) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ("registry",)
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    registry: str
    def __init__(self, registry: _Optional[str] = ...) -> None: ...

class LogoutResponse(_message.Message):
    __slots__ = ("removed", "registry")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    registry: str
    def __init__(self, removed: _Optional[bool] = ..., registry: _Optional[str] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IndexInfo(_message.Message):
    __slots__ = ("name", "mirrors", "secure", "official")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIRRORS_FIELD_NUMBER: _ClassVar[int]
    SECURE_FIELD_NUMBER: _ClassVar[int]
    OFFICIAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    mirrors: _containers.RepeatedScalarFieldContainer[str]
    secure: bool
    official: bool
    def __init__(self, name: _Optional[str] = ..., mirrors: _Optional[_Iterable[str]] = ..., secure: _Optional[bool] = ..., official: _Optional[bool] = ...) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("build", "index_server_address", "insecure_registry_cidrs", "index_configs", "mirrors")
    BUILD_FIELD_NUMBER: _ClassVar[int]
    INDEX_SERVER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    INSECURE_REGISTRY_CIDRS_FIELD_NUMBER: _ClassVar[int]
    INDEX_CONFIGS_FIELD_NUMBER: _ClassVar[int]
    MIRRORS_FIELD_NUMBER: _ClassVar[int]
    build: _types_pb2.BuildInfo
    index_server_address: str
    insecure_registry_cidrs: _containers.RepeatedScalarFieldContainer[str]
    index_configs: _containers.RepeatedCompositeFieldContainer[IndexInfo]
    mirrors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, build: _Optional[_Union[_types_pb2.BuildInfo, _Mapping]] = ..., index_server_address: _Optional[str] = ..., insecure_registry_cidrs: _Optional[_Iterable[str]] = ..., index_configs: _Optional[_Iterable[_Union[IndexInfo, _Mapping]]] = ..., mirrors: _Optional[_Iterable[str]] = ...) -> None: ...

class BlobExistsRequest(_message.Message):
    __slots__ = ("repository", "digest", "for_push")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    FOR_PUSH_FIELD_NUMBER: _ClassVar[int]
    repository: str
    digest: str
    for_push: bool
    def __init__(self, repository: _Optional[str] = ..., digest: _Optional[str] = ..., for_push: _Optional[bool] = ...) -> None: ...

class BlobExistsResponse(_message.Message):
    __slots__ = ("exists", "size")
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    exists: bool
    size: int
    def __init__(self, exists: _Optional[bool] = ..., size: _Optional[int] = ...) -> None: ...

class PushBlobHeader(_message.Message):
    __slots__ = ("repository", "digest", "size", "mount_from", "cached", "chunk_size")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FROM_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    repository: str
    digest: str
    size: int
    mount_from: _containers.RepeatedScalarFieldContainer[str]
    cached: bool
    chunk_size: int
    def __init__(self, repository: _Optional[str] = ..., digest: _Optional[str] = ..., size: _Optional[int] = ..., mount_from: _Optional[_Iterable[str]] = ..., cached: _Optional[bool] = ..., chunk_size: _Optional[int] = ...) -> None: ...

class PushBlobRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: PushBlobHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[PushBlobHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class PushBlobResponse(_message.Message):
    __slots__ = ("uploaded", "total", "outcome", "mounted_from", "resumed")
    UPLOADED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    MOUNTED_FROM_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    uploaded: int
    total: int
    outcome: PushBlobOutcome
    mounted_from: str
    resumed: int
    def __init__(self, uploaded: _Optional[int] = ..., total: _Optional[int] = ..., outcome: _Optional[_Union[PushBlobOutcome, str]] = ..., mounted_from: _Optional[str] = ..., resumed: _Optional[int] = ...) -> None: ...

class PutManifestRequest(_message.Message):
    __slots__ = ("repository", "tag", "media_type", "content")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    repository: str
    tag: str
    media_type: str
    content: bytes
    def __init__(self, repository: _Optional[str] = ..., tag: _Optional[str] = ..., media_type: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class PutManifestResponse(_message.Message):
    __slots__ = ("digest",)
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    digest: str
    def __init__(self, digest: _Optional[str] = ...) -> None: ...

class TagDigestRequest(_message.Message):
    __slots__ = ("repository", "tag")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    repository: str
    tag: str
    def __init__(self, repository: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class TagDigestResponse(_message.Message):
    __slots__ = ("digest",)
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    digest: str
    def __init__(self, digest: _Optional[str] = ...) -> None: ...

from barque.types.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StreamKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STREAM_KIND_UNSPECIFIED: _ClassVar[StreamKind]
    STREAM_KIND_STDIN: _ClassVar[StreamKind]
    STREAM_KIND_STDOUT: _ClassVar[StreamKind]
    STREAM_KIND_STDERR: _ClassVar[StreamKind]
STREAM_KIND_UNSPECIFIED: StreamKind
STREAM_KIND_STDIN: StreamKind
STREAM_KIND_STDOUT: StreamKind
STREAM_KIND_STDERR: StreamKind

class ContainerConfig(_message.Message):
    __slots__ = ("image", "cmd", "env", "working_dir", "user", "hostname", "tty", "open_stdin", "labels", "stop_signal", "stop_timeout", "entrypoint", "domainname", "attach_stdin", "attach_stdout", "attach_stderr", "exposed_ports", "stdin_once", "healthcheck", "args_escaped", "volumes", "network_disabled", "mac_address", "on_build", "shell")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CMD_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    OPEN_STDIN_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    STOP_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    STOP_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    DOMAINNAME_FIELD_NUMBER: _ClassVar[int]
    ATTACH_STDIN_FIELD_NUMBER: _ClassVar[int]
    ATTACH_STDOUT_FIELD_NUMBER: _ClassVar[int]
    ATTACH_STDERR_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_PORTS_FIELD_NUMBER: _ClassVar[int]
    STDIN_ONCE_FIELD_NUMBER: _ClassVar[int]
    HEALTHCHECK_FIELD_NUMBER: _ClassVar[int]
    ARGS_ESCAPED_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    NETWORK_DISABLED_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ON_BUILD_FIELD_NUMBER: _ClassVar[int]
    SHELL_FIELD_NUMBER: _ClassVar[int]
    image: str
    cmd: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.RepeatedScalarFieldContainer[str]
    working_dir: str
    user: str
    hostname: str
    tty: bool
    open_stdin: bool
    labels: _containers.ScalarMap[str, str]
    stop_signal: str
    stop_timeout: int
    entrypoint: StrSlice
    domainname: str
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    exposed_ports: _containers.RepeatedScalarFieldContainer[str]
    stdin_once: bool
    healthcheck: HealthConfig
    args_escaped: bool
    volumes: _containers.RepeatedScalarFieldContainer[str]
    network_disabled: bool
    mac_address: str
    on_build: _containers.RepeatedScalarFieldContainer[str]
    shell: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, image: _Optional[str] = ..., cmd: _Optional[_Iterable[str]] = ..., env: _Optional[_Iterable[str]] = ..., working_dir: _Optional[str] = ..., user: _Optional[str] = ..., hostname: _Optional[str] = ..., tty: _Optional[bool] = ..., open_stdin: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., stop_signal: _Optional[str] = ..., stop_timeout: _Optional[int] = ..., entrypoint: _Optional[_Union[StrSlice, _Mapping]] = ..., domainname: _Optional[str] = ..., attach_stdin: _Optional[bool] = ..., attach_stdout: _Optional[bool] = ..., attach_stderr: _Optional[bool] = ..., exposed_ports: _Optional[_Iterable[str]] = ..., stdin_once: _Optional[bool] = ..., healthcheck: _Optional[_Union[HealthConfig, _Mapping]] = ..., args_escaped: _Optional[bool] = ..., volumes: _Optional[_Iterable[str]] = ..., network_disabled: _Optional[bool] = ..., mac_address: _Optional[str] = ..., on_build: _Optional[_Iterable[str]] = ..., shell: _Optional[_Iterable[str]] = ...) -> None: ...

class StrSlice(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class HealthConfig(_message.Message):
    __slots__ = ("test", "interval", "timeout", "start_period", "start_interval", "retries")
    TEST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    START_PERIOD_FIELD_NUMBER: _ClassVar[int]
    START_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    test: _containers.RepeatedScalarFieldContainer[str]
    interval: int
    timeout: int
    start_period: int
    start_interval: int
    retries: int
    def __init__(self, test: _Optional[_Iterable[str]] = ..., interval: _Optional[int] = ..., timeout: _Optional[int] = ..., start_period: _Optional[int] = ..., start_interval: _Optional[int] = ..., retries: _Optional[int] = ...) -> None: ...

class LogConfig(_message.Message):
    __slots__ = ("type", "config")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    type: str
    config: _containers.ScalarMap[str, str]
    def __init__(self, type: _Optional[str] = ..., config: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PortBinding(_message.Message):
    __slots__ = ("host_ip", "host_port")
    HOST_IP_FIELD_NUMBER: _ClassVar[int]
    HOST_PORT_FIELD_NUMBER: _ClassVar[int]
    host_ip: str
    host_port: str
    def __init__(self, host_ip: _Optional[str] = ..., host_port: _Optional[str] = ...) -> None: ...

class PortBindings(_message.Message):
    __slots__ = ("bindings",)
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    bindings: _containers.RepeatedCompositeFieldContainer[PortBinding]
    def __init__(self, bindings: _Optional[_Iterable[_Union[PortBinding, _Mapping]]] = ...) -> None: ...

class RestartPolicy(_message.Message):
    __slots__ = ("name", "maximum_retry_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    maximum_retry_count: int
    def __init__(self, name: _Optional[str] = ..., maximum_retry_count: _Optional[int] = ...) -> None: ...

class WeightDevice(_message.Message):
    __slots__ = ("path", "weight")
    PATH_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    path: str
    weight: int
    def __init__(self, path: _Optional[str] = ..., weight: _Optional[int] = ...) -> None: ...

class ThrottleDevice(_message.Message):
    __slots__ = ("path", "rate")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    path: str
    rate: int
    def __init__(self, path: _Optional[str] = ..., rate: _Optional[int] = ...) -> None: ...

class DeviceMapping(_message.Message):
    __slots__ = ("path_on_host", "path_in_container", "cgroup_permissions")
    PATH_ON_HOST_FIELD_NUMBER: _ClassVar[int]
    PATH_IN_CONTAINER_FIELD_NUMBER: _ClassVar[int]
    CGROUP_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    path_on_host: str
    path_in_container: str
    cgroup_permissions: str
    def __init__(self, path_on_host: _Optional[str] = ..., path_in_container: _Optional[str] = ..., cgroup_permissions: _Optional[str] = ...) -> None: ...

class DeviceRequest(_message.Message):
    __slots__ = ("driver", "count", "device_ids", "capabilities", "options")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    driver: str
    count: int
    device_ids: _containers.RepeatedScalarFieldContainer[str]
    capabilities: _containers.RepeatedCompositeFieldContainer[StrSlice]
    options: _containers.ScalarMap[str, str]
    def __init__(self, driver: _Optional[str] = ..., count: _Optional[int] = ..., device_ids: _Optional[_Iterable[str]] = ..., capabilities: _Optional[_Iterable[_Union[StrSlice, _Mapping]]] = ..., options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Ulimit(_message.Message):
    __slots__ = ("name", "hard", "soft")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    SOFT_FIELD_NUMBER: _ClassVar[int]
    name: str
    hard: int
    soft: int
    def __init__(self, name: _Optional[str] = ..., hard: _Optional[int] = ..., soft: _Optional[int] = ...) -> None: ...

class Mount(_message.Message):
    __slots__ = ("type", "source", "target", "read_only", "consistency", "bind_propagation", "volume_no_copy", "volume_labels", "tmpfs_size_bytes", "tmpfs_mode")
    class VolumeLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    BIND_PROPAGATION_FIELD_NUMBER: _ClassVar[int]
    VOLUME_NO_COPY_FIELD_NUMBER: _ClassVar[int]
    VOLUME_LABELS_FIELD_NUMBER: _ClassVar[int]
    TMPFS_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TMPFS_MODE_FIELD_NUMBER: _ClassVar[int]
    type: str
    source: str
    target: str
    read_only: bool
    consistency: str
    bind_propagation: str
    volume_no_copy: bool
    volume_labels: _containers.ScalarMap[str, str]
    tmpfs_size_bytes: int
    tmpfs_mode: int
    def __init__(self, type: _Optional[str] = ..., source: _Optional[str] = ..., target: _Optional[str] = ..., read_only: _Optional[bool] = ..., consistency: _Optional[str] = ..., bind_propagation: _Optional[str] = ..., volume_no_copy: _Optional[bool] = ..., volume_labels: _Optional[_Mapping[str, str]] = ..., tmpfs_size_bytes: _Optional[int] = ..., tmpfs_mode: _Optional[int] = ...) -> None: ...

class HostConfig(_message.Message):
    __slots__ = ("memory", "memory_swap", "nano_cpus", "cpu_shares", "pids_limit", "network_mode", "readonly_rootfs", "binds", "cap_add", "cap_drop", "privileged", "security_opt", "log_config", "auto_remove", "container_id_file", "port_bindings", "restart_policy", "volume_driver", "volumes_from", "console_size", "annotations", "cgroupns_mode", "dns", "dns_options", "dns_search", "extra_hosts", "group_add", "ipc_mode", "cgroup", "links", "oom_score_adj", "pid_mode", "publish_all_ports", "storage_opt", "tmpfs", "uts_mode", "userns_mode", "shm_size", "sysctls", "runtime", "isolation", "cgroup_parent", "blkio_weight", "blkio_weight_device", "blkio_device_read_bps", "blkio_device_write_bps", "blkio_device_read_iops", "blkio_device_write_iops", "cpu_period", "cpu_quota", "cpu_realtime_period", "cpu_realtime_runtime", "cpuset_cpus", "cpuset_mems", "devices", "device_cgroup_rules", "device_requests", "kernel_memory", "kernel_memory_tcp", "memory_reservation", "memory_swappiness", "oom_kill_disable", "ulimits", "cpu_count", "cpu_percent", "io_maximum_iops", "io_maximum_bandwidth", "mounts", "masked_paths", "readonly_paths", "init")
    class PortBindingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PortBindings
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PortBindings, _Mapping]] = ...) -> None: ...
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class StorageOptEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class TmpfsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class SysctlsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SWAP_FIELD_NUMBER: _ClassVar[int]
    NANO_CPUS_FIELD_NUMBER: _ClassVar[int]
    CPU_SHARES_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    NETWORK_MODE_FIELD_NUMBER: _ClassVar[int]
    READONLY_ROOTFS_FIELD_NUMBER: _ClassVar[int]
    BINDS_FIELD_NUMBER: _ClassVar[int]
    CAP_ADD_FIELD_NUMBER: _ClassVar[int]
    CAP_DROP_FIELD_NUMBER: _ClassVar[int]
    PRIVILEGED_FIELD_NUMBER: _ClassVar[int]
    SECURITY_OPT_FIELD_NUMBER: _ClassVar[int]
    LOG_CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUTO_REMOVE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FILE_FIELD_NUMBER: _ClassVar[int]
    PORT_BINDINGS_FIELD_NUMBER: _ClassVar[int]
    RESTART_POLICY_FIELD_NUMBER: _ClassVar[int]
    VOLUME_DRIVER_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FROM_FIELD_NUMBER: _ClassVar[int]
    CONSOLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    CGROUPNS_MODE_FIELD_NUMBER: _ClassVar[int]
    DNS_FIELD_NUMBER: _ClassVar[int]
    DNS_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DNS_SEARCH_FIELD_NUMBER: _ClassVar[int]
    EXTRA_HOSTS_FIELD_NUMBER: _ClassVar[int]
    GROUP_ADD_FIELD_NUMBER: _ClassVar[int]
    IPC_MODE_FIELD_NUMBER: _ClassVar[int]
    CGROUP_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    OOM_SCORE_ADJ_FIELD_NUMBER: _ClassVar[int]
    PID_MODE_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_ALL_PORTS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_OPT_FIELD_NUMBER: _ClassVar[int]
    TMPFS_FIELD_NUMBER: _ClassVar[int]
    UTS_MODE_FIELD_NUMBER: _ClassVar[int]
    USERNS_MODE_FIELD_NUMBER: _ClassVar[int]
    SHM_SIZE_FIELD_NUMBER: _ClassVar[int]
    SYSCTLS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    ISOLATION_FIELD_NUMBER: _ClassVar[int]
    CGROUP_PARENT_FIELD_NUMBER: _ClassVar[int]
    BLKIO_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    BLKIO_WEIGHT_DEVICE_FIELD_NUMBER: _ClassVar[int]
    BLKIO_DEVICE_READ_BPS_FIELD_NUMBER: _ClassVar[int]
    BLKIO_DEVICE_WRITE_BPS_FIELD_NUMBER: _ClassVar[int]
    BLKIO_DEVICE_READ_IOPS_FIELD_NUMBER: _ClassVar[int]
    BLKIO_DEVICE_WRITE_IOPS_FIELD_NUMBER: _ClassVar[int]
    CPU_PERIOD_FIELD_NUMBER: _ClassVar[int]
    CPU_QUOTA_FIELD_NUMBER: _ClassVar[int]
    CPU_REALTIME_PERIOD_FIELD_NUMBER: _ClassVar[int]
    CPU_REALTIME_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    CPUSET_CPUS_FIELD_NUMBER: _ClassVar[int]
    CPUSET_MEMS_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_CGROUP_RULES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_MEMORY_FIELD_NUMBER: _ClassVar[int]
    KERNEL_MEMORY_TCP_FIELD_NUMBER: _ClassVar[int]
    MEMORY_RESERVATION_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SWAPPINESS_FIELD_NUMBER: _ClassVar[int]
    OOM_KILL_DISABLE_FIELD_NUMBER: _ClassVar[int]
    ULIMITS_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    IO_MAXIMUM_IOPS_FIELD_NUMBER: _ClassVar[int]
    IO_MAXIMUM_BANDWIDTH_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    MASKED_PATHS_FIELD_NUMBER: _ClassVar[int]
    READONLY_PATHS_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    memory: int
    memory_swap: int
    nano_cpus: int
    cpu_shares: int
    pids_limit: int
    network_mode: str
    readonly_rootfs: bool
    binds: _containers.RepeatedScalarFieldContainer[str]
    cap_add: _containers.RepeatedScalarFieldContainer[str]
    cap_drop: _containers.RepeatedScalarFieldContainer[str]
    privileged: bool
    security_opt: _containers.RepeatedScalarFieldContainer[str]
    log_config: LogConfig
    auto_remove: bool
    container_id_file: str
    port_bindings: _containers.MessageMap[str, PortBindings]
    restart_policy: RestartPolicy
    volume_driver: str
    volumes_from: _containers.RepeatedScalarFieldContainer[str]
    console_size: _containers.RepeatedScalarFieldContainer[int]
    annotations: _containers.ScalarMap[str, str]
    cgroupns_mode: str
    dns: _containers.RepeatedScalarFieldContainer[str]
    dns_options: _containers.RepeatedScalarFieldContainer[str]
    dns_search: _containers.RepeatedScalarFieldContainer[str]
    extra_hosts: _containers.RepeatedScalarFieldContainer[str]
    group_add: _containers.RepeatedScalarFieldContainer[str]
    ipc_mode: str
    cgroup: str
    links: _containers.RepeatedScalarFieldContainer[str]
    oom_score_adj: int
    pid_mode: str
    publish_all_ports: bool
    storage_opt: _containers.ScalarMap[str, str]
    tmpfs: _containers.ScalarMap[str, str]
    uts_mode: str
    userns_mode: str
    shm_size: int
    sysctls: _containers.ScalarMap[str, str]
    runtime: str
    isolation: str
    cgroup_parent: str
    blkio_weight: int
    blkio_weight_device: _containers.RepeatedCompositeFieldContainer[WeightDevice]
    blkio_device_read_bps: _containers.RepeatedCompositeFieldContainer[ThrottleDevice]
    blkio_device_write_bps: _containers.RepeatedCompositeFieldContainer[ThrottleDevice]
    blkio_device_read_iops: _containers.RepeatedCompositeFieldContainer[ThrottleDevice]
    blkio_device_write_iops: _containers.RepeatedCompositeFieldContainer[ThrottleDevice]
    cpu_period: int
    cpu_quota: int
    cpu_realtime_period: int
    cpu_realtime_runtime: int
    cpuset_cpus: str
    cpuset_mems: str
    devices: _containers.RepeatedCompositeFieldContainer[DeviceMapping]
    device_cgroup_rules: _containers.RepeatedScalarFieldContainer[str]
    device_requests: _containers.RepeatedCompositeFieldContainer[DeviceRequest]
    kernel_memory: int
    kernel_memory_tcp: int
    memory_reservation: int
    memory_swappiness: int
    oom_kill_disable: bool
    ulimits: _containers.RepeatedCompositeFieldContainer[Ulimit]
    cpu_count: int
    cpu_percent: int
    io_maximum_iops: int
    io_maximum_bandwidth: int
    mounts: _containers.RepeatedCompositeFieldContainer[Mount]
    masked_paths: _containers.RepeatedScalarFieldContainer[str]
    readonly_paths: _containers.RepeatedScalarFieldContainer[str]
    init: bool
    def __init__(self, memory: _Optional[int] = ..., memory_swap: _Optional[int] = ..., nano_cpus: _Optional[int] = ..., cpu_shares: _Optional[int] = ..., pids_limit: _Optional[int] = ..., network_mode: _Optional[str] = ..., readonly_rootfs: _Optional[bool] = ..., binds: _Optional[_Iterable[str]] = ..., cap_add: _Optional[_Iterable[str]] = ..., cap_drop: _Optional[_Iterable[str]] = ..., privileged: _Optional[bool] = ..., security_opt: _Optional[_Iterable[str]] = ..., log_config: _Optional[_Union[LogConfig, _Mapping]] = ..., auto_remove: _Optional[bool] = ..., container_id_file: _Optional[str] = ..., port_bindings: _Optional[_Mapping[str, PortBindings]] = ..., restart_policy: _Optional[_Union[RestartPolicy, _Mapping]] = ..., volume_driver: _Optional[str] = ..., volumes_from: _Optional[_Iterable[str]] = ..., console_size: _Optional[_Iterable[int]] = ..., annotations: _Optional[_Mapping[str, str]] = ..., cgroupns_mode: _Optional[str] = ..., dns: _Optional[_Iterable[str]] = ..., dns_options: _Optional[_Iterable[str]] = ..., dns_search: _Optional[_Iterable[str]] = ..., extra_hosts: _Optional[_Iterable[str]] = ..., group_add: _Optional[_Iterable[str]] = ..., ipc_mode: _Optional[str] = ..., cgroup: _Optional[str] = ..., links: _Optional[_Iterable[str]] = ..., oom_score_adj: _Optional[int] = ..., pid_mode: _Optional[str] = ..., publish_all_ports: _Optional[bool] = ..., storage_opt: _Optional[_Mapping[str, str]] = ..., tmpfs: _Optional[_Mapping[str, str]] = ..., uts_mode: _Optional[str] = ..., userns_mode: _Optional[str] = ..., shm_size: _Optional[int] = ..., sysctls: _Optional[_Mapping[str, str]] = ..., runtime: _Optional[str] = ..., isolation: _Optional[str] = ..., cgroup_parent: _Optional[str] = ..., blkio_weight: _Optional[int] = ..., blkio_weight_device: _Optional[_Iterable[_Union[WeightDevice, _Mapping]]] = ..., blkio_device_read_bps: _Optional[_Iterable[_Union[ThrottleDevice, _Mapping]]] = ..., blkio_device_write_bps: _Optional[_Iterable[_Union[ThrottleDevice, _Mapping]]] = ..., blkio_device_read_iops: _Optional[_Iterable[_Union[ThrottleDevice, _Mapping]]] = ..., blkio_device_write_iops: _Optional[_Iterable[_Union[ThrottleDevice, _Mapping]]] = ..., cpu_period: _Optional[int] = ..., cpu_quota: _Optional[int] = ..., cpu_realtime_period: _Optional[int] = ..., cpu_realtime_runtime: _Optional[int] = ..., cpuset_cpus: _Optional[str] = ..., cpuset_mems: _Optional[str] = ..., devices: _Optional[_Iterable[_Union[DeviceMapping, _Mapping]]] = ..., device_cgroup_rules: _Optional[_Iterable[str]] = ..., device_requests: _Optional[_Iterable[_Union[DeviceRequest, _Mapping]]] = ..., kernel_memory: _Optional[int] = ..., kernel_memory_tcp: _Optional[int] = ..., memory_reservation: _Optional[int] = ..., memory_swappiness: _Optional[int] = ..., oom_kill_disable: _Optional[bool] = ..., ulimits: _Optional[_Iterable[_Union[Ulimit, _Mapping]]] = ..., cpu_count: _Optional[int] = ..., cpu_percent: _Optional[int] = ..., io_maximum_iops: _Optional[int] = ..., io_maximum_bandwidth: _Optional[int] = ..., mounts: _Optional[_Iterable[_Union[Mount, _Mapping]]] = ..., masked_paths: _Optional[_Iterable[str]] = ..., readonly_paths: _Optional[_Iterable[str]] = ..., init: _Optional[bool] = ...) -> None: ...

class EndpointIPAMConfig(_message.Message):
    __slots__ = ("ipv4_address", "ipv6_address", "link_local_ips")
    IPV4_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IPV6_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LINK_LOCAL_IPS_FIELD_NUMBER: _ClassVar[int]
    ipv4_address: str
    ipv6_address: str
    link_local_ips: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ipv4_address: _Optional[str] = ..., ipv6_address: _Optional[str] = ..., link_local_ips: _Optional[_Iterable[str]] = ...) -> None: ...

class EndpointSettings(_message.Message):
    __slots__ = ("ipam_config", "links", "aliases", "mac_address", "driver_opts", "network_id", "endpoint_id", "gateway", "ip_address", "ip_prefix_len", "ipv6_gateway", "global_ipv6_address", "global_ipv6_prefix_len")
    class DriverOptsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IPAM_CONFIG_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DRIVER_OPTS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IP_PREFIX_LEN_FIELD_NUMBER: _ClassVar[int]
    IPV6_GATEWAY_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_IPV6_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_IPV6_PREFIX_LEN_FIELD_NUMBER: _ClassVar[int]
    ipam_config: EndpointIPAMConfig
    links: _containers.RepeatedScalarFieldContainer[str]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    mac_address: str
    driver_opts: _containers.ScalarMap[str, str]
    network_id: str
    endpoint_id: str
    gateway: str
    ip_address: str
    ip_prefix_len: int
    ipv6_gateway: str
    global_ipv6_address: str
    global_ipv6_prefix_len: int
    def __init__(self, ipam_config: _Optional[_Union[EndpointIPAMConfig, _Mapping]] = ..., links: _Optional[_Iterable[str]] = ..., aliases: _Optional[_Iterable[str]] = ..., mac_address: _Optional[str] = ..., driver_opts: _Optional[_Mapping[str, str]] = ..., network_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ..., gateway: _Optional[str] = ..., ip_address: _Optional[str] = ..., ip_prefix_len: _Optional[int] = ..., ipv6_gateway: _Optional[str] = ..., global_ipv6_address: _Optional[str] = ..., global_ipv6_prefix_len: _Optional[int] = ...) -> None: ...

class NetworkingConfig(_message.Message):
    __slots__ = ("endpoints_config",)
    class EndpointsConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: EndpointSettings
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[EndpointSettings, _Mapping]] = ...) -> None: ...
    ENDPOINTS_CONFIG_FIELD_NUMBER: _ClassVar[int]
    endpoints_config: _containers.MessageMap[str, EndpointSettings]
    def __init__(self, endpoints_config: _Optional[_Mapping[str, EndpointSettings]] = ...) -> None: ...

class ContainerState(_message.Message):
    __slots__ = ("status", "running", "oom_killed", "pid", "exit_code", "error", "started_at", "finished_at", "restarting", "health", "paused")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    OOM_KILLED_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    RESTARTING_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    status: str
    running: bool
    oom_killed: bool
    pid: int
    exit_code: int
    error: str
    started_at: str
    finished_at: str
    restarting: bool
    health: HealthState
    paused: bool
    def __init__(self, status: _Optional[str] = ..., running: _Optional[bool] = ..., oom_killed: _Optional[bool] = ..., pid: _Optional[int] = ..., exit_code: _Optional[int] = ..., error: _Optional[str] = ..., started_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., restarting: _Optional[bool] = ..., health: _Optional[_Union[HealthState, _Mapping]] = ..., paused: _Optional[bool] = ...) -> None: ...

class HealthState(_message.Message):
    __slots__ = ("status", "failing_streak", "log")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILING_STREAK_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    status: str
    failing_streak: int
    log: _containers.RepeatedCompositeFieldContainer[HealthResult]
    def __init__(self, status: _Optional[str] = ..., failing_streak: _Optional[int] = ..., log: _Optional[_Iterable[_Union[HealthResult, _Mapping]]] = ...) -> None: ...

class HealthResult(_message.Message):
    __slots__ = ("start", "end", "exit_code", "output")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    exit_code: int
    output: str
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ..., exit_code: _Optional[int] = ..., output: _Optional[str] = ...) -> None: ...

class MountPoint(_message.Message):
    __slots__ = ("type", "source", "destination", "rw", "mode", "name", "driver", "propagation")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    RW_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    PROPAGATION_FIELD_NUMBER: _ClassVar[int]
    type: str
    source: str
    destination: str
    rw: bool
    mode: str
    name: str
    driver: str
    propagation: str
    def __init__(self, type: _Optional[str] = ..., source: _Optional[str] = ..., destination: _Optional[str] = ..., rw: _Optional[bool] = ..., mode: _Optional[str] = ..., name: _Optional[str] = ..., driver: _Optional[str] = ..., propagation: _Optional[str] = ...) -> None: ...

class Container(_message.Message):
    __slots__ = ("id", "name", "created", "image_id", "args", "config", "host_config", "state", "mounts", "log_path", "rootfs", "env", "working_dir", "hostname", "user", "ports", "networks", "restart_count", "size_rw", "size_root_fs")
    class NetworksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: EndpointSettings
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[EndpointSettings, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    HOST_CONFIG_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    LOG_PATH_FIELD_NUMBER: _ClassVar[int]
    ROOTFS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    RESTART_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZE_RW_FIELD_NUMBER: _ClassVar[int]
    SIZE_ROOT_FS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    created: str
    image_id: str
    args: _containers.RepeatedScalarFieldContainer[str]
    config: ContainerConfig
    host_config: HostConfig
    state: ContainerState
    mounts: _containers.RepeatedCompositeFieldContainer[MountPoint]
    log_path: str
    rootfs: _containers.RepeatedCompositeFieldContainer[_types_pb2.Mount]
    env: _containers.RepeatedScalarFieldContainer[str]
    working_dir: str
    hostname: str
    user: str
    ports: _containers.RepeatedCompositeFieldContainer[Port]
    networks: _containers.MessageMap[str, EndpointSettings]
    restart_count: int
    size_rw: int
    size_root_fs: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., created: _Optional[str] = ..., image_id: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., config: _Optional[_Union[ContainerConfig, _Mapping]] = ..., host_config: _Optional[_Union[HostConfig, _Mapping]] = ..., state: _Optional[_Union[ContainerState, _Mapping]] = ..., mounts: _Optional[_Iterable[_Union[MountPoint, _Mapping]]] = ..., log_path: _Optional[str] = ..., rootfs: _Optional[_Iterable[_Union[_types_pb2.Mount, _Mapping]]] = ..., env: _Optional[_Iterable[str]] = ..., working_dir: _Optional[str] = ..., hostname: _Optional[str] = ..., user: _Optional[str] = ..., ports: _Optional[_Iterable[_Union[Port, _Mapping]]] = ..., networks: _Optional[_Mapping[str, EndpointSettings]] = ..., restart_count: _Optional[int] = ..., size_rw: _Optional[int] = ..., size_root_fs: _Optional[int] = ...) -> None: ...

class Port(_message.Message):
    __slots__ = ("ip", "private_port", "public_port", "type")
    IP_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_PORT_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_PORT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ip: str
    private_port: int
    public_port: int
    type: str
    def __init__(self, ip: _Optional[str] = ..., private_port: _Optional[int] = ..., public_port: _Optional[int] = ..., type: _Optional[str] = ...) -> None: ...

class CreateRequest(_message.Message):
    __slots__ = ("name", "config", "host_config", "platform", "networking_config")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    HOST_CONFIG_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    NETWORKING_CONFIG_FIELD_NUMBER: _ClassVar[int]
    name: str
    config: ContainerConfig
    host_config: HostConfig
    platform: _types_pb2.Platform
    networking_config: NetworkingConfig
    def __init__(self, name: _Optional[str] = ..., config: _Optional[_Union[ContainerConfig, _Mapping]] = ..., host_config: _Optional[_Union[HostConfig, _Mapping]] = ..., platform: _Optional[_Union[_types_pb2.Platform, _Mapping]] = ..., networking_config: _Optional[_Union[NetworkingConfig, _Mapping]] = ...) -> None: ...

class CreateResponse(_message.Message):
    __slots__ = ("id", "warnings")
    ID_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class StartRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class StartResponse(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("stream", "data", "eof")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EOF_FIELD_NUMBER: _ClassVar[int]
    stream: StreamKind
    data: bytes
    eof: bool
    def __init__(self, stream: _Optional[_Union[StreamKind, str]] = ..., data: _Optional[bytes] = ..., eof: _Optional[bool] = ...) -> None: ...

class Resize(_message.Message):
    __slots__ = ("height", "width")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    height: int
    width: int
    def __init__(self, height: _Optional[int] = ..., width: _Optional[int] = ...) -> None: ...

class Exited(_message.Message):
    __slots__ = ("exit_code", "oom_killed", "error")
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    OOM_KILLED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    oom_killed: bool
    error: str
    def __init__(self, exit_code: _Optional[int] = ..., oom_killed: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class RunRequest(_message.Message):
    __slots__ = ("spec", "stdin", "resize", "signal")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    spec: RunSpec
    stdin: Frame
    resize: Resize
    signal: str
    def __init__(self, spec: _Optional[_Union[RunSpec, _Mapping]] = ..., stdin: _Optional[_Union[Frame, _Mapping]] = ..., resize: _Optional[_Union[Resize, _Mapping]] = ..., signal: _Optional[str] = ...) -> None: ...

class RunSpec(_message.Message):
    __slots__ = ("create", "attach", "attach_stdin")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    ATTACH_FIELD_NUMBER: _ClassVar[int]
    ATTACH_STDIN_FIELD_NUMBER: _ClassVar[int]
    create: CreateRequest
    attach: bool
    attach_stdin: bool
    def __init__(self, create: _Optional[_Union[CreateRequest, _Mapping]] = ..., attach: _Optional[bool] = ..., attach_stdin: _Optional[bool] = ...) -> None: ...

class RunResponse(_message.Message):
    __slots__ = ("created", "output", "exited")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    created: CreateResponse
    output: Frame
    exited: Exited
    def __init__(self, created: _Optional[_Union[CreateResponse, _Mapping]] = ..., output: _Optional[_Union[Frame, _Mapping]] = ..., exited: _Optional[_Union[Exited, _Mapping]] = ...) -> None: ...

class AttachRequest(_message.Message):
    __slots__ = ("open", "stdin", "resize")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    open: AttachOpen
    stdin: Frame
    resize: Resize
    def __init__(self, open: _Optional[_Union[AttachOpen, _Mapping]] = ..., stdin: _Optional[_Union[Frame, _Mapping]] = ..., resize: _Optional[_Union[Resize, _Mapping]] = ...) -> None: ...

class AttachOpen(_message.Message):
    __slots__ = ("id", "stdin", "stdout", "stderr")
    ID_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    id: str
    stdin: bool
    stdout: bool
    stderr: bool
    def __init__(self, id: _Optional[str] = ..., stdin: _Optional[bool] = ..., stdout: _Optional[bool] = ..., stderr: _Optional[bool] = ...) -> None: ...

class AttachResponse(_message.Message):
    __slots__ = ("output", "exited")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    output: Frame
    exited: Exited
    def __init__(self, output: _Optional[_Union[Frame, _Mapping]] = ..., exited: _Optional[_Union[Exited, _Mapping]] = ...) -> None: ...

class WaitRequest(_message.Message):
    __slots__ = ("id", "condition")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    id: str
    condition: str
    def __init__(self, id: _Optional[str] = ..., condition: _Optional[str] = ...) -> None: ...

class WaitResponse(_message.Message):
    __slots__ = ("exited",)
    EXITED_FIELD_NUMBER: _ClassVar[int]
    exited: Exited
    def __init__(self, exited: _Optional[_Union[Exited, _Mapping]] = ...) -> None: ...

class KillRequest(_message.Message):
    __slots__ = ("id", "signal")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    signal: str
    def __init__(self, id: _Optional[str] = ..., signal: _Optional[str] = ...) -> None: ...

class KillResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StopRequest(_message.Message):
    __slots__ = ("id", "timeout")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    id: str
    timeout: int
    def __init__(self, id: _Optional[str] = ..., timeout: _Optional[int] = ...) -> None: ...

class StopResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("id", "force", "remove_volumes")
    ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    REMOVE_VOLUMES_FIELD_NUMBER: _ClassVar[int]
    id: str
    force: bool
    remove_volumes: bool
    def __init__(self, id: _Optional[str] = ..., force: _Optional[bool] = ..., remove_volumes: _Optional[bool] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("all", "filters", "size")
    ALL_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    all: bool
    filters: _containers.RepeatedScalarFieldContainer[str]
    size: bool
    def __init__(self, all: _Optional[bool] = ..., filters: _Optional[_Iterable[str]] = ..., size: _Optional[bool] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[Container]
    def __init__(self, containers: _Optional[_Iterable[_Union[Container, _Mapping]]] = ...) -> None: ...

class InspectRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class InspectResponse(_message.Message):
    __slots__ = ("container", "container_json")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_JSON_FIELD_NUMBER: _ClassVar[int]
    container: Container
    container_json: str
    def __init__(self, container: _Optional[_Union[Container, _Mapping]] = ..., container_json: _Optional[str] = ...) -> None: ...

class ExecRequest(_message.Message):
    __slots__ = ("spec", "stdin", "resize")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    spec: ExecSpec
    stdin: Frame
    resize: Resize
    def __init__(self, spec: _Optional[_Union[ExecSpec, _Mapping]] = ..., stdin: _Optional[_Union[Frame, _Mapping]] = ..., resize: _Optional[_Union[Resize, _Mapping]] = ...) -> None: ...

class ExecSpec(_message.Message):
    __slots__ = ("id", "args", "env", "working_dir", "user", "tty", "attach_stdin", "detach", "privileged")
    ID_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    ATTACH_STDIN_FIELD_NUMBER: _ClassVar[int]
    DETACH_FIELD_NUMBER: _ClassVar[int]
    PRIVILEGED_FIELD_NUMBER: _ClassVar[int]
    id: str
    args: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.RepeatedScalarFieldContainer[str]
    working_dir: str
    user: str
    tty: bool
    attach_stdin: bool
    detach: bool
    privileged: bool
    def __init__(self, id: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., env: _Optional[_Iterable[str]] = ..., working_dir: _Optional[str] = ..., user: _Optional[str] = ..., tty: _Optional[bool] = ..., attach_stdin: _Optional[bool] = ..., detach: _Optional[bool] = ..., privileged: _Optional[bool] = ...) -> None: ...

class ExecResponse(_message.Message):
    __slots__ = ("output", "exited", "pid")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    output: Frame
    exited: Exited
    pid: int
    def __init__(self, output: _Optional[_Union[Frame, _Mapping]] = ..., exited: _Optional[_Union[Exited, _Mapping]] = ..., pid: _Optional[int] = ...) -> None: ...

class LogsRequest(_message.Message):
    __slots__ = ("id", "follow", "since_nanos", "until_nanos", "tail", "stdout", "stderr")
    ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    SINCE_NANOS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_NANOS_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    id: str
    follow: bool
    since_nanos: int
    until_nanos: int
    tail: int
    stdout: bool
    stderr: bool
    def __init__(self, id: _Optional[str] = ..., follow: _Optional[bool] = ..., since_nanos: _Optional[int] = ..., until_nanos: _Optional[int] = ..., tail: _Optional[int] = ..., stdout: _Optional[bool] = ..., stderr: _Optional[bool] = ...) -> None: ...

class LogsResponse(_message.Message):
    __slots__ = ("stream", "data", "time_nanos")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TIME_NANOS_FIELD_NUMBER: _ClassVar[int]
    stream: StreamKind
    data: bytes
    time_nanos: int
    def __init__(self, stream: _Optional[_Union[StreamKind, str]] = ..., data: _Optional[bytes] = ..., time_nanos: _Optional[int] = ...) -> None: ...

class EventsRequest(_message.Message):
    __slots__ = ("since_nanos", "filters", "until_nanos")
    SINCE_NANOS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_NANOS_FIELD_NUMBER: _ClassVar[int]
    since_nanos: int
    filters: _containers.RepeatedScalarFieldContainer[str]
    until_nanos: int
    def __init__(self, since_nanos: _Optional[int] = ..., filters: _Optional[_Iterable[str]] = ..., until_nanos: _Optional[int] = ...) -> None: ...

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

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OciRuntime(_message.Message):
    __slots__ = ("name", "path", "args", "version", "git_commit")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GIT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    args: _containers.RepeatedScalarFieldContainer[str]
    version: str
    git_commit: str
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., version: _Optional[str] = ..., git_commit: _Optional[str] = ...) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("build", "id", "containers", "containers_running", "containers_paused", "containers_stopped", "logging_driver", "log_drivers", "cgroup_driver", "cgroup_version", "memory_limit", "swap_limit", "cpu_cfs_period", "cpu_cfs_quota", "cpu_shares", "cpu_set", "pids_limit", "oom_kill_disable", "runtimes", "default_runtime", "security_options", "kernel_version", "operating_system", "os_version", "os_type", "architecture", "ncpu", "mem_total", "name", "root_dir", "debug", "live_restore_enabled", "warnings", "network_drivers")
    BUILD_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_PAUSED_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_STOPPED_FIELD_NUMBER: _ClassVar[int]
    LOGGING_DRIVER_FIELD_NUMBER: _ClassVar[int]
    LOG_DRIVERS_FIELD_NUMBER: _ClassVar[int]
    CGROUP_DRIVER_FIELD_NUMBER: _ClassVar[int]
    CGROUP_VERSION_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SWAP_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CPU_CFS_PERIOD_FIELD_NUMBER: _ClassVar[int]
    CPU_CFS_QUOTA_FIELD_NUMBER: _ClassVar[int]
    CPU_SHARES_FIELD_NUMBER: _ClassVar[int]
    CPU_SET_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    OOM_KILL_DISABLE_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    SECURITY_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPERATING_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    NCPU_FIELD_NUMBER: _ClassVar[int]
    MEM_TOTAL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROOT_DIR_FIELD_NUMBER: _ClassVar[int]
    DEBUG_FIELD_NUMBER: _ClassVar[int]
    LIVE_RESTORE_ENABLED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_DRIVERS_FIELD_NUMBER: _ClassVar[int]
    build: _types_pb2.BuildInfo
    id: str
    containers: int
    containers_running: int
    containers_paused: int
    containers_stopped: int
    logging_driver: str
    log_drivers: _containers.RepeatedScalarFieldContainer[str]
    cgroup_driver: str
    cgroup_version: str
    memory_limit: bool
    swap_limit: bool
    cpu_cfs_period: bool
    cpu_cfs_quota: bool
    cpu_shares: bool
    cpu_set: bool
    pids_limit: bool
    oom_kill_disable: bool
    runtimes: _containers.RepeatedCompositeFieldContainer[OciRuntime]
    default_runtime: str
    security_options: _containers.RepeatedScalarFieldContainer[str]
    kernel_version: str
    operating_system: str
    os_version: str
    os_type: str
    architecture: str
    ncpu: int
    mem_total: int
    name: str
    root_dir: str
    debug: bool
    live_restore_enabled: bool
    warnings: _containers.RepeatedScalarFieldContainer[str]
    network_drivers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, build: _Optional[_Union[_types_pb2.BuildInfo, _Mapping]] = ..., id: _Optional[str] = ..., containers: _Optional[int] = ..., containers_running: _Optional[int] = ..., containers_paused: _Optional[int] = ..., containers_stopped: _Optional[int] = ..., logging_driver: _Optional[str] = ..., log_drivers: _Optional[_Iterable[str]] = ..., cgroup_driver: _Optional[str] = ..., cgroup_version: _Optional[str] = ..., memory_limit: _Optional[bool] = ..., swap_limit: _Optional[bool] = ..., cpu_cfs_period: _Optional[bool] = ..., cpu_cfs_quota: _Optional[bool] = ..., cpu_shares: _Optional[bool] = ..., cpu_set: _Optional[bool] = ..., pids_limit: _Optional[bool] = ..., oom_kill_disable: _Optional[bool] = ..., runtimes: _Optional[_Iterable[_Union[OciRuntime, _Mapping]]] = ..., default_runtime: _Optional[str] = ..., security_options: _Optional[_Iterable[str]] = ..., kernel_version: _Optional[str] = ..., operating_system: _Optional[str] = ..., os_version: _Optional[str] = ..., os_type: _Optional[str] = ..., architecture: _Optional[str] = ..., ncpu: _Optional[int] = ..., mem_total: _Optional[int] = ..., name: _Optional[str] = ..., root_dir: _Optional[str] = ..., debug: _Optional[bool] = ..., live_restore_enabled: _Optional[bool] = ..., warnings: _Optional[_Iterable[str]] = ..., network_drivers: _Optional[_Iterable[str]] = ...) -> None: ...

class IPAMPool(_message.Message):
    __slots__ = ("subnet", "ip_range", "gateway")
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    IP_RANGE_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    subnet: str
    ip_range: str
    gateway: str
    def __init__(self, subnet: _Optional[str] = ..., ip_range: _Optional[str] = ..., gateway: _Optional[str] = ...) -> None: ...

class NetworkSpec(_message.Message):
    __slots__ = ("name", "driver", "internal", "labels", "ipam", "options", "attachable")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    IPAM_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ATTACHABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    driver: str
    internal: bool
    labels: _containers.ScalarMap[str, str]
    ipam: _containers.RepeatedCompositeFieldContainer[IPAMPool]
    options: _containers.ScalarMap[str, str]
    attachable: bool
    def __init__(self, name: _Optional[str] = ..., driver: _Optional[str] = ..., internal: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., ipam: _Optional[_Iterable[_Union[IPAMPool, _Mapping]]] = ..., options: _Optional[_Mapping[str, str]] = ..., attachable: _Optional[bool] = ...) -> None: ...

class Network(_message.Message):
    __slots__ = ("id", "name", "created", "scope", "driver", "internal", "labels", "ipam", "options", "bridge", "containers")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    IPAM_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    BRIDGE_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    created: str
    scope: str
    driver: str
    internal: bool
    labels: _containers.ScalarMap[str, str]
    ipam: _containers.RepeatedCompositeFieldContainer[IPAMPool]
    options: _containers.ScalarMap[str, str]
    bridge: str
    containers: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., created: _Optional[str] = ..., scope: _Optional[str] = ..., driver: _Optional[str] = ..., internal: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., ipam: _Optional[_Iterable[_Union[IPAMPool, _Mapping]]] = ..., options: _Optional[_Mapping[str, str]] = ..., bridge: _Optional[str] = ..., containers: _Optional[int] = ...) -> None: ...

class CreateNetworkRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: NetworkSpec
    def __init__(self, spec: _Optional[_Union[NetworkSpec, _Mapping]] = ...) -> None: ...

class CreateNetworkResponse(_message.Message):
    __slots__ = ("id", "warning")
    ID_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    id: str
    warning: str
    def __init__(self, id: _Optional[str] = ..., warning: _Optional[str] = ...) -> None: ...

class ListNetworksRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class ListNetworksResponse(_message.Message):
    __slots__ = ("networks",)
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[Network]
    def __init__(self, networks: _Optional[_Iterable[_Union[Network, _Mapping]]] = ...) -> None: ...

class InspectNetworkRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class InspectNetworkResponse(_message.Message):
    __slots__ = ("network", "json")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    network: Network
    json: str
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ..., json: _Optional[str] = ...) -> None: ...

class RemoveNetworkRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class RemoveNetworkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PruneNetworksRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class PruneNetworksResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted: _Optional[_Iterable[str]] = ...) -> None: ...

class ConnectNetworkRequest(_message.Message):
    __slots__ = ("network", "container", "endpoint")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    network: str
    container: str
    endpoint: EndpointSettings
    def __init__(self, network: _Optional[str] = ..., container: _Optional[str] = ..., endpoint: _Optional[_Union[EndpointSettings, _Mapping]] = ...) -> None: ...

class ConnectNetworkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DisconnectNetworkRequest(_message.Message):
    __slots__ = ("network", "container", "force")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    network: str
    container: str
    force: bool
    def __init__(self, network: _Optional[str] = ..., container: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class DisconnectNetworkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RestartRequest(_message.Message):
    __slots__ = ("id", "timeout")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    id: str
    timeout: int
    def __init__(self, id: _Optional[str] = ..., timeout: _Optional[int] = ...) -> None: ...

class RestartResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Volume(_message.Message):
    __slots__ = ("name", "driver", "mountpoint", "created_at", "labels", "options", "scope", "used_by", "anonymous")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    MOUNTPOINT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    USED_BY_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    name: str
    driver: str
    mountpoint: str
    created_at: str
    labels: _containers.ScalarMap[str, str]
    options: _containers.ScalarMap[str, str]
    scope: str
    used_by: _containers.RepeatedScalarFieldContainer[str]
    anonymous: bool
    def __init__(self, name: _Optional[str] = ..., driver: _Optional[str] = ..., mountpoint: _Optional[str] = ..., created_at: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., options: _Optional[_Mapping[str, str]] = ..., scope: _Optional[str] = ..., used_by: _Optional[_Iterable[str]] = ..., anonymous: _Optional[bool] = ...) -> None: ...

class CreateVolumeRequest(_message.Message):
    __slots__ = ("name", "driver", "driver_opts", "labels")
    class DriverOptsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    DRIVER_OPTS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    driver: str
    driver_opts: _containers.ScalarMap[str, str]
    labels: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., driver: _Optional[str] = ..., driver_opts: _Optional[_Mapping[str, str]] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CreateVolumeResponse(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: Volume
    def __init__(self, volume: _Optional[_Union[Volume, _Mapping]] = ...) -> None: ...

class ListVolumesRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class ListVolumesResponse(_message.Message):
    __slots__ = ("volumes", "warnings")
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    volumes: _containers.RepeatedCompositeFieldContainer[Volume]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, volumes: _Optional[_Iterable[_Union[Volume, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class InspectVolumeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class InspectVolumeResponse(_message.Message):
    __slots__ = ("volume", "json")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    volume: Volume
    json: str
    def __init__(self, volume: _Optional[_Union[Volume, _Mapping]] = ..., json: _Optional[str] = ...) -> None: ...

class RemoveVolumeRequest(_message.Message):
    __slots__ = ("name", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RemoveVolumeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PruneVolumesRequest(_message.Message):
    __slots__ = ("filters", "all")
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    all: bool
    def __init__(self, filters: _Optional[_Iterable[str]] = ..., all: _Optional[bool] = ...) -> None: ...

class PruneVolumesResponse(_message.Message):
    __slots__ = ("deleted", "space_reclaimed")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SPACE_RECLAIMED_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    space_reclaimed: int
    def __init__(self, deleted: _Optional[_Iterable[str]] = ..., space_reclaimed: _Optional[int] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("ids", "all", "stream")
    IDS_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    all: bool
    stream: bool
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., all: _Optional[bool] = ..., stream: _Optional[bool] = ...) -> None: ...

class CpuStats(_message.Message):
    __slots__ = ("total_usage", "usage_in_usermode", "usage_in_kernelmode", "system_cpu_usage", "online_cpus")
    TOTAL_USAGE_FIELD_NUMBER: _ClassVar[int]
    USAGE_IN_USERMODE_FIELD_NUMBER: _ClassVar[int]
    USAGE_IN_KERNELMODE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_CPU_USAGE_FIELD_NUMBER: _ClassVar[int]
    ONLINE_CPUS_FIELD_NUMBER: _ClassVar[int]
    total_usage: int
    usage_in_usermode: int
    usage_in_kernelmode: int
    system_cpu_usage: int
    online_cpus: int
    def __init__(self, total_usage: _Optional[int] = ..., usage_in_usermode: _Optional[int] = ..., usage_in_kernelmode: _Optional[int] = ..., system_cpu_usage: _Optional[int] = ..., online_cpus: _Optional[int] = ...) -> None: ...

class MemoryStats(_message.Message):
    __slots__ = ("usage", "limit", "max_usage", "stats")
    class StatsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MAX_USAGE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    usage: int
    limit: int
    max_usage: int
    stats: _containers.ScalarMap[str, int]
    def __init__(self, usage: _Optional[int] = ..., limit: _Optional[int] = ..., max_usage: _Optional[int] = ..., stats: _Optional[_Mapping[str, int]] = ...) -> None: ...

class NetworkStats(_message.Message):
    __slots__ = ("name", "rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    RX_PACKETS_FIELD_NUMBER: _ClassVar[int]
    RX_ERRORS_FIELD_NUMBER: _ClassVar[int]
    RX_DROPPED_FIELD_NUMBER: _ClassVar[int]
    TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    TX_PACKETS_FIELD_NUMBER: _ClassVar[int]
    TX_ERRORS_FIELD_NUMBER: _ClassVar[int]
    TX_DROPPED_FIELD_NUMBER: _ClassVar[int]
    name: str
    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int
    def __init__(self, name: _Optional[str] = ..., rx_bytes: _Optional[int] = ..., rx_packets: _Optional[int] = ..., rx_errors: _Optional[int] = ..., rx_dropped: _Optional[int] = ..., tx_bytes: _Optional[int] = ..., tx_packets: _Optional[int] = ..., tx_errors: _Optional[int] = ..., tx_dropped: _Optional[int] = ...) -> None: ...

class ContainerStats(_message.Message):
    __slots__ = ("id", "name", "read_nanos", "preread_nanos", "cpu", "precpu", "memory", "networks", "block_read", "block_write", "pids", "pids_limit", "running")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    READ_NANOS_FIELD_NUMBER: _ClassVar[int]
    PREREAD_NANOS_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    PRECPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_READ_FIELD_NUMBER: _ClassVar[int]
    BLOCK_WRITE_FIELD_NUMBER: _ClassVar[int]
    PIDS_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    read_nanos: int
    preread_nanos: int
    cpu: CpuStats
    precpu: CpuStats
    memory: MemoryStats
    networks: _containers.RepeatedCompositeFieldContainer[NetworkStats]
    block_read: int
    block_write: int
    pids: int
    pids_limit: int
    running: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., read_nanos: _Optional[int] = ..., preread_nanos: _Optional[int] = ..., cpu: _Optional[_Union[CpuStats, _Mapping]] = ..., precpu: _Optional[_Union[CpuStats, _Mapping]] = ..., memory: _Optional[_Union[MemoryStats, _Mapping]] = ..., networks: _Optional[_Iterable[_Union[NetworkStats, _Mapping]]] = ..., block_read: _Optional[int] = ..., block_write: _Optional[int] = ..., pids: _Optional[int] = ..., pids_limit: _Optional[int] = ..., running: _Optional[bool] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: _containers.RepeatedCompositeFieldContainer[ContainerStats]
    def __init__(self, stats: _Optional[_Iterable[_Union[ContainerStats, _Mapping]]] = ...) -> None: ...

class TopRequest(_message.Message):
    __slots__ = ("id", "ps_args")
    ID_FIELD_NUMBER: _ClassVar[int]
    PS_ARGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    ps_args: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., ps_args: _Optional[_Iterable[str]] = ...) -> None: ...

class TopProcess(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, fields: _Optional[_Iterable[str]] = ...) -> None: ...

class TopResponse(_message.Message):
    __slots__ = ("titles", "processes")
    TITLES_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedScalarFieldContainer[str]
    processes: _containers.RepeatedCompositeFieldContainer[TopProcess]
    def __init__(self, titles: _Optional[_Iterable[str]] = ..., processes: _Optional[_Iterable[_Union[TopProcess, _Mapping]]] = ...) -> None: ...

class RenameRequest(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class RenameResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PauseRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class PauseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnpauseRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class UnpauseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PathStat(_message.Message):
    __slots__ = ("name", "size", "mode", "mtime", "link_target")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    LINK_TARGET_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    mode: int
    mtime: str
    link_target: str
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ..., mtime: _Optional[str] = ..., link_target: _Optional[str] = ...) -> None: ...

class StatPathRequest(_message.Message):
    __slots__ = ("id", "path")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    id: str
    path: str
    def __init__(self, id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class StatPathResponse(_message.Message):
    __slots__ = ("stat",)
    STAT_FIELD_NUMBER: _ClassVar[int]
    stat: PathStat
    def __init__(self, stat: _Optional[_Union[PathStat, _Mapping]] = ...) -> None: ...

class CopyFromRequest(_message.Message):
    __slots__ = ("id", "path", "follow_link")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_LINK_FIELD_NUMBER: _ClassVar[int]
    id: str
    path: str
    follow_link: bool
    def __init__(self, id: _Optional[str] = ..., path: _Optional[str] = ..., follow_link: _Optional[bool] = ...) -> None: ...

class CopyFromResponse(_message.Message):
    __slots__ = ("stat", "data")
    STAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    stat: PathStat
    data: bytes
    def __init__(self, stat: _Optional[_Union[PathStat, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class CopyToHeader(_message.Message):
    __slots__ = ("id", "path", "copy_uid_gid", "no_overwrite_dir_non_dir", "make_parents", "parents_uid", "parents_gid")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    COPY_UID_GID_FIELD_NUMBER: _ClassVar[int]
    NO_OVERWRITE_DIR_NON_DIR_FIELD_NUMBER: _ClassVar[int]
    MAKE_PARENTS_FIELD_NUMBER: _ClassVar[int]
    PARENTS_UID_FIELD_NUMBER: _ClassVar[int]
    PARENTS_GID_FIELD_NUMBER: _ClassVar[int]
    id: str
    path: str
    copy_uid_gid: bool
    no_overwrite_dir_non_dir: bool
    make_parents: bool
    parents_uid: int
    parents_gid: int
    def __init__(self, id: _Optional[str] = ..., path: _Optional[str] = ..., copy_uid_gid: _Optional[bool] = ..., no_overwrite_dir_non_dir: _Optional[bool] = ..., make_parents: _Optional[bool] = ..., parents_uid: _Optional[int] = ..., parents_gid: _Optional[int] = ...) -> None: ...

class CopyToRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: CopyToHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[CopyToHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class CopyToResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class PruneContainersRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class PruneContainersResponse(_message.Message):
    __slots__ = ("deleted", "space_reclaimed")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SPACE_RECLAIMED_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    space_reclaimed: int
    def __init__(self, deleted: _Optional[_Iterable[str]] = ..., space_reclaimed: _Optional[int] = ...) -> None: ...

class DiskUsageRequest(_message.Message):
    __slots__ = ("types",)
    TYPES_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, types: _Optional[_Iterable[str]] = ...) -> None: ...

class ContainerUsage(_message.Message):
    __slots__ = ("container", "size_rw", "size_root_fs", "local_volumes")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    SIZE_RW_FIELD_NUMBER: _ClassVar[int]
    SIZE_ROOT_FS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_VOLUMES_FIELD_NUMBER: _ClassVar[int]
    container: Container
    size_rw: int
    size_root_fs: int
    local_volumes: int
    def __init__(self, container: _Optional[_Union[Container, _Mapping]] = ..., size_rw: _Optional[int] = ..., size_root_fs: _Optional[int] = ..., local_volumes: _Optional[int] = ...) -> None: ...

class VolumeUsage(_message.Message):
    __slots__ = ("name", "links", "size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    links: int
    size: int
    def __init__(self, name: _Optional[str] = ..., links: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class DiskUsageResponse(_message.Message):
    __slots__ = ("containers", "volumes")
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[ContainerUsage]
    volumes: _containers.RepeatedCompositeFieldContainer[VolumeUsage]
    def __init__(self, containers: _Optional[_Iterable[_Union[ContainerUsage, _Mapping]]] = ..., volumes: _Optional[_Iterable[_Union[VolumeUsage, _Mapping]]] = ...) -> None: ...

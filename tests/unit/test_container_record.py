"""Container records keep Docker's Config and HostConfig as the proto
messages; records written before that still load."""

from __future__ import annotations

from services.runtime.engine.containers import ContainerConfig, ContainerRecord, HostConfig


def _record(config, host) -> ContainerRecord:
    return ContainerRecord(id="a" * 64, name="n", created="t", image_id="sha256:" + "b" * 64,
                           config=config, host_config=host)


def test_roundtrip_keeps_presence():
    config = ContainerConfig(image="busybox", cmd=["sh"], stop_timeout=0)
    config.entrypoint.values[:] = [""]
    host = HostConfig(memory=1 << 26, pids_limit=0, readonly_rootfs=True)
    host.log_config.type = "k8s-file"
    again = ContainerRecord.from_json(_record(config, host).to_json())
    assert again.config == config and again.host_config == host
    assert again.config.HasField("entrypoint") and again.config.HasField("stop_timeout")
    assert again.host_config.HasField("pids_limit")
    empty = ContainerRecord.from_json(_record(ContainerConfig(image="x"), HostConfig()).to_json())
    assert not empty.config.HasField("entrypoint") and not empty.host_config.HasField("pids_limit")


def test_records_of_the_dataclass_era_load():
    old = _record(ContainerConfig(), HostConfig()).to_json()
    old["config"] = {"image": "busybox", "entrypoint": None, "cmd": ["sh"], "env": [], "working_dir": "",
                     "user": "", "hostname": "", "tty": False, "open_stdin": False, "labels": {"a": "b"},
                     "stop_signal": "", "stop_timeout": None}
    old["host_config"] = {"memory": 0, "memory_swap": 0, "nano_cpus": 0, "cpu_shares": 0, "pids_limit": 0,
                          "network_mode": "none", "read_only": True, "binds": [], "cap_add": [],
                          "cap_drop": [], "privileged": False, "security_opt": [], "log_type": "k8s-file",
                          "log_config": {"max-size": "1m"}, "auto_remove": True}
    record = ContainerRecord.from_json(old)
    assert not record.config.HasField("entrypoint") and list(record.config.cmd) == ["sh"]
    assert record.config.labels == {"a": "b"}
    assert record.host_config.readonly_rootfs and record.host_config.auto_remove
    assert record.host_config.log_config.type == "k8s-file"
    assert dict(record.host_config.log_config.config) == {"max-size": "1m"}
    old["config"]["entrypoint"] = []
    assert ContainerRecord.from_json(old).config.HasField("entrypoint")

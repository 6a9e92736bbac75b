// The request bodies and daemon facts of the decide bench, shared with
// `examples/decide_count.rs` (instruction counts). Included, not a module: the includer
// brings `Facts`, `VolumeFacts` and `Identity` into scope.

fn host_config(extra: &str) -> String {
    format!(
        r#"{{"Binds":["data:/data"],"ContainerIDFile":"","LogConfig":{{"Type":"","Config":{{}}}},"NetworkMode":"default","PortBindings":{{"80/tcp":[{{"HostIp":"","HostPort":"8080"}}]}},"RestartPolicy":{{"Name":"no","MaximumRetryCount":0}},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[50,200],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null{extra}}}"#
    )
}

fn run_body() -> String {
    format!(
        r#"{{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{{"80/tcp":{{}}}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP_ENV=production"],"Cmd":["sh","-c","exec httpd -f -p 80"],"Image":"registry.example.com/team/web:1.4.2","Volumes":{{}},"WorkingDir":"/srv","Entrypoint":null,"OnBuild":null,"Labels":{{"com.example.team":"web","com.example.tier":"frontend"}},"HostConfig":{},"NetworkingConfig":{{"EndpointsConfig":{{"default":{{"IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":null}}}}}}}}"#,
        host_config("")
    )
}

fn compose_body() -> String {
    let env: Vec<String> = (0..300)
        .map(|i| format!("\"VAR_{i}=value-number-{i}-with-some-padding\""))
        .collect();
    let labels: Vec<String> = (0..120)
        .map(|i| format!("\"com.docker.compose.extra.label{i}\":\"value-{i}-padding-padding\""))
        .collect();
    let binds: Vec<String> = (0..20)
        .map(|i| format!("\"vol{i}:/mnt/vol{i}:rw\""))
        .collect();
    format!(
        r#"{{"Image":"app:latest","Env":[{}],"Labels":{{{}}},"Cmd":["run"],"HostConfig":{{"Binds":[{}],"NetworkMode":"proj_default","Mounts":[{{"Type":"tmpfs","Target":"/tmp"}}],"LogConfig":{{"Type":"json-file","Config":{{"max-size":"10m"}}}}}},"NetworkingConfig":{{"EndpointsConfig":{{"proj_default":{{"Aliases":["app","app-1"]}}}}}}}}"#,
        env.join(","),
        labels.join(","),
        binds.join(",")
    )
}

const SERVICE_BODY: &str = r#"{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"web:1","Args":["httpd","-f"],"Env":["A=1"],"Mounts":[{"Type":"volume","Source":"data","Target":"/data"}],"Init":false,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":2}},"UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}"#;

fn facts() -> Facts {
    let mut f = Facts::default();
    for i in 0..20 {
        f.volumes.insert(
            format!("vol{i}"),
            Some(VolumeFacts {
                driver: "local".into(),
                options: Default::default(),
            }),
        );
    }
    f.volumes.insert(
        "data".into(),
        Some(VolumeFacts {
            driver: "local".into(),
            options: Default::default(),
        }),
    );
    // The default policy isolates tenants: the volumes and the network the bodies name
    // are the client's own (as the daemon's inspect answers show it).
    use portcullis::tenant::access::Kind;
    let owned = |name: &str| {
        Some(portcullis::policy::OwnedFacts {
            id: name.to_string(),
            name: name.to_string(),
            labels: [(
                portcullis::tenant::OWNER_LABEL.to_string(),
                "alice".to_string(),
            )]
            .into(),
        })
    };
    for name in (0..20).map(|i| format!("vol{i}")).chain(["data".into()]) {
        f.owned.insert((Kind::Volume, name.clone()), owned(&name));
    }
    f.owned
        .insert((Kind::Network, "proj_default".into()), owned("proj_default"));
    f
}

/// The tenant making the requests: a client certificate's identity.
fn client() -> Identity {
    Identity {
        common_name: Some("alice".into()),
        ..Identity::transport("mtls")
    }
}

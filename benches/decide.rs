//! Criterion benches of the pure request path: route classification, the Go-exact JSON
//! view, and classify + decode + decide for (a) a typical `docker run` create body
//! (~2 KB), (b) a large compose-generated one (~20 KB), (c) a swarm service create.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::Method;
use portcullis::docker::{json, path, route, schema};
use portcullis::policy::pipeline::{check, Outcome};
use portcullis::policy::{Facts, PolicySet, VolumeFacts};
use portcullis::tls::Identity;

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
    f
}

fn bench(c: &mut Criterion) {
    let set = PolicySet::builtin();
    let id = Identity {
        common_name: Some("alice".into()),
        ..Identity::transport("mtls")
    };
    let facts = facts();
    let run = run_body();
    let compose = compose_body();
    // The bodies must be allowed, or the bench measures an early exit.
    for (b, target) in [
        (&run, "/v1.41/containers/create?name=web"),
        (&compose, "/v1.41/containers/create"),
        (&SERVICE_BODY.to_string(), "/v1.41/services/create"),
    ] {
        match check(&set, &id, &Method::POST, target, Some(b.as_bytes()), &facts) {
            Outcome::Decided {
                decision: portcullis::policy::Decision::Allow(v),
                ..
            } if v.is_empty() => {}
            other => panic!("bench body not allowed: {other:?}"),
        }
    }
    eprintln!(
        "body sizes: run {} B, compose {} B, service {} B",
        run.len(),
        compose.len(),
        SERVICE_BODY.len()
    );

    c.bench_function("classify", |b| {
        b.iter(|| {
            let p = path::canonicalise(black_box("/v1.41/containers/3f2a9c1b7d/logs")).unwrap();
            black_box(route::classify(&Method::GET, &p.path))
        })
    });
    c.bench_function("decode run body (2 KB)", |b| {
        b.iter(|| {
            black_box(
                json::read_body(black_box(run.as_bytes()), Some(&schema::CONTAINER_CREATE))
                    .unwrap(),
            )
        })
    });
    c.bench_function("decode run body (2 KB), two-pass reference", |b| {
        b.iter(|| {
            black_box(
                json::read_body_reference(
                    black_box(run.as_bytes()),
                    Some(&schema::CONTAINER_CREATE),
                )
                .unwrap(),
            )
        })
    });
    c.bench_function("decide run body (2 KB)", |b| {
        b.iter(|| {
            black_box(check(
                &set,
                &id,
                &Method::POST,
                "/v1.41/containers/create?name=web",
                Some(run.as_bytes()),
                &facts,
            ))
        })
    });
    c.bench_function("decide compose body (20 KB)", |b| {
        b.iter(|| {
            black_box(check(
                &set,
                &id,
                &Method::POST,
                "/v1.41/containers/create",
                Some(compose.as_bytes()),
                &facts,
            ))
        })
    });
    c.bench_function("decide service create", |b| {
        b.iter(|| {
            black_box(check(
                &set,
                &id,
                &Method::POST,
                "/v1.41/services/create",
                Some(SERVICE_BODY.as_bytes()),
                &facts,
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

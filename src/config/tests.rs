//! Tests of the settings: overlay, validation into typed values, defaults, the README table.

use super::*;
use crate::server::ListenAddr;

#[test]
fn flags_override_file_and_errors_are_collected() {
    let file: Settings = toml::from_str(
        "listen = [\"tcp://0.0.0.0:2376\"]\nupstream = \"tcp://10.0.0.1:2375\"\nmax_body_bytes = 100\n",
    )
    .unwrap();
    let flags = Settings {
        upstream: Some("unix:///run/d.sock".into()),
        insecure_no_tls: Some(true),
        ..Default::default()
    };
    let c = file.overlay(flags).validate().unwrap();
    assert_eq!(c.upstream, Upstream::Unix("/run/d.sock".into()));
    assert_eq!(c.tls, TlsMode::Insecure);
    assert_eq!(c.limits.max_body, 100);
    assert_eq!(c.limits.body_timeout, Duration::from_secs(60));
    assert_eq!(
        c.listen,
        vec![ListenAddr::Tcp("0.0.0.0:2376".into()).into()]
    );

    let bad = Settings {
        listen: Some(vec!["http://x".into()]),
        upstream: Some("ftp://x".into()),
        tls_cert: Some("c".into()),
        min_api_version: Some("1.12".into()),
        log_format: Some("xml".into()),
        body_timeout_secs: Some(0),
        ..Default::default()
    };
    let errs = bad.validate().unwrap_err();
    assert_eq!(errs.len(), 6, "{errs:?}");
    assert!(
        errs.iter().any(|e| e.contains("body_timeout_secs")),
        "{errs:?}"
    );
}

#[test]
fn unknown_config_keys_are_refused() {
    assert!(toml::from_str::<Settings>("lisen = []").is_err());
    assert!(toml::from_str::<Settings>("config = \"x.toml\"").is_err());
}

#[test]
fn defaults_are_the_proxy_limits() {
    let c = Settings::default().validate().unwrap();
    let d = Limits::default();
    assert_eq!(c.limits.max_body, d.max_body);
    assert_eq!(c.limits.min_api, d.min_api);
    assert_eq!(c.limits.response_timeout, d.response_timeout);
    assert_eq!(c.limits.body_timeout, d.body_timeout);
    assert_eq!(
        c.listen,
        vec![ListenAddr::Tcp("127.0.0.1:2376".into()).into()]
    );
    assert_eq!(c.upstream, Upstream::Unix("/var/run/docker.sock".into()));
    assert_eq!(
        c.admin,
        AdminListen::Tcp {
            addr: "127.0.0.1:9323".into(),
            required: false
        }
    );
    assert_eq!(c.watch_interval, Some(Duration::from_secs(2)));
    assert!(matches!(c.tls, TlsMode::Dev { .. }));
}

#[test]
fn tls_modes() {
    let files = Settings {
        tls_cert: Some("c.pem".into()),
        tls_key: Some("k.pem".into()),
        tls_client_ca: Some("ca.pem".into()),
        ..Default::default()
    };
    assert_eq!(
        files.validate().unwrap().tls,
        TlsMode::Files(TlsFiles {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            client_ca: Some("ca.pem".into()),
        })
    );
    let dev = Settings {
        data_dir: Some("/srv/pc".into()),
        ..Default::default()
    };
    assert_eq!(
        dev.validate().unwrap().tls,
        TlsMode::Dev {
            data_dir: "/srv/pc".into()
        }
    );
    let contradiction = Settings {
        insecure_no_tls: Some(true),
        tls_cert: Some("c.pem".into()),
        tls_key: Some("k.pem".into()),
        ..Default::default()
    };
    assert_eq!(contradiction.validate().unwrap_err().len(), 1);
    let ca_alone = Settings {
        tls_client_ca: Some("ca.pem".into()),
        ..Default::default()
    };
    assert_eq!(ca_alone.validate().unwrap_err().len(), 1);
}

#[test]
fn dev_mode_creates_its_certificates_once() {
    let dir = tempfile::tempdir().unwrap();
    let mode = TlsMode::Dev {
        data_dir: dir.path().to_path_buf(),
    };
    let first = mode.resolve().unwrap();
    let files = first.files.clone().unwrap();
    assert!(files.cert.exists() && files.key.exists());
    assert_eq!(files.client_ca, Some(dir.path().join("certs/ca.pem")));
    let client = first.dev_client.clone().unwrap();
    assert!(client.join("cert.pem").exists());
    let ca = std::fs::read(dir.path().join("certs/ca.pem")).unwrap();
    assert_eq!(mode.resolve().unwrap(), first);
    assert_eq!(std::fs::read(dir.path().join("certs/ca.pem")).unwrap(), ca);
}

#[test]
fn upstream_tls() {
    let u = |url: &str, ca: Option<&str>, cert: Option<&str>, key: Option<&str>| {
        let mut errors = Vec::new();
        let u = upstream(
            url,
            ca.map(Into::into),
            cert.map(Into::into),
            key.map(Into::into),
            &mut errors,
        );
        (u, errors)
    };
    assert_eq!(
        u("tcp://d:2375", None, None, None),
        (
            Some(Upstream::Tcp {
                host: "d".into(),
                port: 2375
            }),
            vec![]
        )
    );
    assert_eq!(
        u("tcp://d:2376", Some("ca"), None, None).0,
        Some(Upstream::Tls {
            host: "d".into(),
            port: 2376,
            ca: "ca".into(),
            client: None
        })
    );
    assert_eq!(u("https://d:2376", None, None, None).1.len(), 1);
    assert_eq!(u("tcp://d:2376", None, Some("c"), Some("k")).1.len(), 1);
    assert_eq!(u("https://d:2376", Some("ca"), Some("c"), None).1.len(), 1);
    assert_eq!(u("unix:///d.sock", Some("ca"), None, None).1.len(), 1);
}

/// The README's flags table lists exactly the settings, each with its default.
#[test]
fn readme_table_matches_the_settings() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## `portcullis serve`: flags and config keys")
        .nth(1)
        .expect("README has the serve flags section");
    // Up to the next section: later tables may start a row with a flag too.
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut listed = std::collections::BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `--")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let default = cells[2].replace('`', "");
        for flag in cells[1].split('`').filter(|s| s.starts_with("--")) {
            assert!(
                listed.insert(flag.to_string(), default.clone()).is_none(),
                "{flag} listed twice"
            );
        }
    }
    let table = Settings::table();
    let defined: Vec<String> = table.iter().map(SettingInfo::flag).collect();
    let in_readme: Vec<String> = listed.keys().cloned().collect();
    let mut sorted = defined.clone();
    sorted.sort();
    assert_eq!(in_readme, sorted, "README flags vs defined settings");
    for s in &table {
        if let Some(d) = &s.default {
            let cell = &listed[&s.flag()];
            assert!(
                cell.starts_with(d.as_str()),
                "README default of {} is {cell:?}, the setting's is {d:?}",
                s.flag()
            );
        }
    }
    // The first cell names the config key too where it differs in shape (lists).
    assert!(section.contains("`--listen` / `listen` (list)"));
}

#[test]
fn listeners_may_name_a_policy() {
    let file: Settings = toml::from_str(
        "listen = [\"unix:///run/p/traefik.sock?policy=traefik\", \"tcp://127.0.0.1:2376\"]\ninsecure_no_tls = true\n",
    )
    .unwrap();
    let c = file.validate().unwrap();
    assert_eq!(
        c.listen,
        vec![
            Listen {
                addr: ListenAddr::Unix("/run/p/traefik.sock".into()),
                policy: Some("traefik".into()),
            },
            ListenAddr::Tcp("127.0.0.1:2376".into()).into(),
        ]
    );
    assert_eq!(c.listener_policies(), ["traefik"]);
}

#[test]
fn listener_options_other_than_policy_are_refused() {
    for bad in [
        "unix:///run/p.sock?policy=",
        "unix:///run/p.sock?policy",
        "unix:///run/p.sock?polcy=traefik",
        "tcp://127.0.0.1:1?policy=a b",
        "unix:///run/p.sock?policy=a&mode=x",
    ] {
        let s = Settings {
            listen: Some(vec![bad.into()]),
            insecure_no_tls: Some(true),
            ..Default::default()
        };
        let errors = s.validate().expect_err(bad);
        assert!(
            errors
                .iter()
                .any(|e| e.contains(bad) && e.contains("policy")),
            "{bad}: {errors:?}"
        );
    }
}

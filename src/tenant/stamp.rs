//! Owner labels stamped into what a tenant creates.
//!
//! The stamp goes into the checked body that Portcullis re-serialises and forwards, so the
//! daemon stores exactly what was checked. A client may name the owner label itself only
//! with its own tenant as the value (harmless, and what a copied spec carries); any other
//! value is a forged owner and refused ([`Forged`]), never silently overwritten, so a
//! tenant learns at once that its request was not what it meant.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{Tenant, OWNER_LABEL};
use crate::docker::route::OpKind;
use crate::docker::value::{Json, Object};

/// A client-supplied owner label naming another tenant (or nobody).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forged {
    /// Where the label was found (`Labels`, `TaskTemplate.ContainerSpec.Labels`, `labels`).
    pub field: &'static str,
    /// The value the client gave (`""` for `null`).
    pub value: String,
}

/// Where each create operation keeps the labels that make its object owned. `None`:
/// the operation creates nothing a label can be put on in its body.
pub fn label_fields(op: OpKind) -> &'static [&'static [&'static str]] {
    match op {
        OpKind::ContainerCreate
        | OpKind::Commit
        | OpKind::VolumeCreate
        | OpKind::NetworkCreate
        | OpKind::SecretCreate
        | OpKind::ConfigCreate => &[&["Labels"]],
        // The service, and the containers of its tasks.
        OpKind::ServiceCreate | OpKind::ServiceUpdate => {
            &[&["Labels"], &["TaskTemplate", "ContainerSpec", "Labels"]]
        }
        _ => &[],
    }
}

/// Stamp the owner label into a checked body of `op` (see [`label_fields`]). A missing
/// or `null` label map is created; a service's task template is stamped only when it has a
/// container spec (the daemon refuses a service without one).
pub fn stamp(op: OpKind, body: &mut Json, tenant: &Tenant) -> Result<(), Forged> {
    for path in label_fields(op) {
        let (last, parents) = path.split_last().expect("label paths are not empty");
        let Some(parent) = object_at(body, parents) else {
            continue;
        };
        let field: &'static str = if parents.is_empty() {
            "Labels"
        } else {
            "TaskTemplate.ContainerSpec.Labels"
        };
        stamp_map(parent, last, field, tenant)?;
    }
    stamp_volume_mounts(op, body, tenant)
}

/// Where each operation keeps mounts whose `VolumeOptions.Labels` label a volume the
/// daemon creates for it: a container's `--mount type=volume` (dockerd creates a missing
/// named or anonymous volume with these labels; an existing volume keeps its own), and a
/// service's, which swarm creates on the node that runs the task.
pub fn mount_fields(op: OpKind) -> &'static [&'static str] {
    match op {
        OpKind::ContainerCreate => &["HostConfig", "Mounts"],
        OpKind::ServiceCreate | OpKind::ServiceUpdate => {
            &["TaskTemplate", "ContainerSpec", "Mounts"]
        }
        _ => &[],
    }
}

/// Stamp the owner into `VolumeOptions.Labels` of every `Type: volume` mount (see
/// [`mount_fields`]), so that the volumes the daemon creates for them are owned.
fn stamp_volume_mounts(op: OpKind, body: &mut Json, tenant: &Tenant) -> Result<(), Forged> {
    let Some((last, parents)) = mount_fields(op).split_last() else {
        return Ok(());
    };
    let Some(Json::Array(mounts)) = object_at(body, parents).and_then(|o| o.get_mut(last)) else {
        return Ok(());
    };
    for m in mounts.iter_mut() {
        let Json::Object(m) = m else { continue };
        if m.get("Type").and_then(Json::as_str) != Some("volume") {
            continue;
        }
        let options = match m.get_mut("VolumeOptions") {
            Some(Json::Object(o)) => o,
            _ => {
                m.insert("VolumeOptions", Json::Object(Object::new()));
                match m.get_mut("VolumeOptions") {
                    Some(Json::Object(o)) => o,
                    _ => unreachable!("just inserted"),
                }
            }
        };
        stamp_map(options, "Labels", "Mounts.VolumeOptions.Labels", tenant)?;
    }
    Ok(())
}

/// The object at `path` below `body`, when every step is an object.
fn object_at<'j, 'a>(body: &'j mut Json<'a>, path: &[&str]) -> Option<&'j mut Object<'a>> {
    let mut cur = match body {
        Json::Object(o) => o,
        _ => return None,
    };
    for key in path {
        cur = match cur.get_mut(key) {
            Some(Json::Object(o)) => o,
            _ => return None,
        };
    }
    Some(cur)
}

fn stamp_map<'a>(
    parent: &mut Object<'a>,
    key: &'static str,
    field: &'static str,
    tenant: &Tenant,
) -> Result<(), Forged> {
    match parent.get_mut(key) {
        Some(Json::Object(labels)) => {
            if let Some(existing) = labels.get(OWNER_LABEL) {
                let value = existing.as_str().unwrap_or("");
                if value != tenant.as_str() {
                    return Err(Forged {
                        field,
                        value: value.to_string(),
                    });
                }
            }
            labels.insert(OWNER_LABEL, owner(tenant));
        }
        _ => {
            // Absent, or null (Go leaves the map nil): the owner's label is the only one.
            let mut labels = Object::new();
            labels.insert(OWNER_LABEL, owner(tenant));
            parent.insert(key, Json::Object(labels));
        }
    }
    Ok(())
}

fn owner<'a>(tenant: &Tenant) -> Json<'a> {
    Json::String(Cow::Owned(tenant.as_str().to_string()))
}

/// Stamp the owner into a `labels` query parameter holding a JSON `map[string]string`
/// (the build's `--label`s), read as Go's `json.Unmarshal` reads it: the last of repeated
/// keys wins, `null` is an empty string, an empty parameter is no labels.
pub fn stamp_label_query(raw: Option<&str>, tenant: &Tenant) -> Result<String, StampQueryError> {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    if let Some(raw) = raw.filter(|r| !r.is_empty()) {
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| StampQueryError::Invalid(format!("labels: {e}")))?;
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        _ => {
                            return Err(StampQueryError::Invalid(format!(
                                "labels: the value of {k:?} is not a string"
                            )))
                        }
                    };
                    labels.insert(k, v);
                }
            }
            _ => {
                return Err(StampQueryError::Invalid(
                    "labels: expected a JSON object of strings".into(),
                ))
            }
        }
    }
    if let Some(value) = labels.get(OWNER_LABEL) {
        if value != tenant.as_str() {
            return Err(StampQueryError::Forged(Forged {
                field: "labels",
                value: value.clone(),
            }));
        }
    }
    labels.insert(OWNER_LABEL.to_string(), tenant.as_str().to_string());
    Ok(serde_json::to_string(&labels).expect("a map of strings serialises"))
}

/// Why a `labels` query parameter could not be stamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StampQueryError {
    /// Not a JSON object of strings (the daemon refuses it too).
    Invalid(String),
    Forged(Forged),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::json::read_body;
    use crate::docker::route::BodyKind;

    fn alice() -> Tenant {
        Tenant::new("alice").unwrap()
    }

    fn stamped(op: OpKind, raw: &str) -> Result<serde_json::Value, Forged> {
        let BodyKind::Json(schema) = op.body() else {
            panic!("{op:?} has no JSON body");
        };
        let mut v = read_body(raw.as_bytes(), schema).unwrap();
        stamp(op, &mut v, &alice())?;
        Ok(v.to_value())
    }

    #[test]
    fn every_labelled_create_gets_the_owner() {
        for op in [
            OpKind::ContainerCreate,
            OpKind::Commit,
            OpKind::VolumeCreate,
            OpKind::NetworkCreate,
        ] {
            for raw in [
                r#"{}"#,
                r#"{"Labels":null}"#,
                r#"{"Labels":{}}"#,
                r#"{"Labels":{"app":"web"}}"#,
                r#"{"Labels":{"app":"web","io.portcullis.owner":"alice"}}"#,
            ] {
                let v = stamped(op, raw).unwrap();
                assert_eq!(v["Labels"][OWNER_LABEL], "alice", "{op:?} {raw}");
                if raw.contains("app") {
                    assert_eq!(v["Labels"]["app"], "web", "{op:?} {raw}");
                }
            }
        }
    }

    #[test]
    fn services_and_their_tasks_are_owned() {
        for op in [OpKind::ServiceCreate, OpKind::ServiceUpdate] {
            let v = stamped(
                op,
                r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x","Labels":{"a":"b"}}}}"#,
            )
            .unwrap();
            assert_eq!(v["Labels"][OWNER_LABEL], "alice");
            assert_eq!(
                v["TaskTemplate"]["ContainerSpec"]["Labels"][OWNER_LABEL],
                "alice"
            );
            assert_eq!(v["TaskTemplate"]["ContainerSpec"]["Labels"]["a"], "b");
            let v = stamped(
                op,
                r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}"#,
            )
            .unwrap();
            assert_eq!(
                v["TaskTemplate"]["ContainerSpec"]["Labels"][OWNER_LABEL],
                "alice"
            );
        }
    }

    #[test]
    fn a_forged_owner_is_refused() {
        for (op, raw, field, value) in [
            (
                OpKind::ContainerCreate,
                r#"{"Labels":{"io.portcullis.owner":"bob"}}"#,
                "Labels",
                "bob",
            ),
            (
                OpKind::VolumeCreate,
                r#"{"Labels":{"io.portcullis.owner":null}}"#,
                "Labels",
                "",
            ),
            (
                OpKind::NetworkCreate,
                r#"{"Name":"n","Labels":{"io.portcullis.owner":""}}"#,
                "Labels",
                "",
            ),
            (
                OpKind::ServiceCreate,
                r#"{"TaskTemplate":{"ContainerSpec":{"Image":"x","Labels":{"io.portcullis.owner":"bob"}}}}"#,
                "TaskTemplate.ContainerSpec.Labels",
                "bob",
            ),
        ] {
            assert_eq!(
                stamped(op, raw).unwrap_err(),
                Forged {
                    field,
                    value: value.into()
                },
                "{op:?} {raw}"
            );
        }
    }

    #[test]
    fn volume_mounts_create_owned_volumes() {
        let v = stamped(
            OpKind::ContainerCreate,
            r#"{"HostConfig":{"Mounts":[
                {"Type":"volume","Source":"data","Target":"/d"},
                {"Type":"volume","Target":"/anon","VolumeOptions":null},
                {"Type":"volume","Source":"x","Target":"/x","VolumeOptions":{"NoCopy":true,"Labels":{"a":"b"}}},
                {"Type":"bind","Source":"/tmp","Target":"/t"},
                {"Type":"tmpfs","Target":"/tmp"}]}}"#,
        )
        .unwrap();
        let m = &v["HostConfig"]["Mounts"];
        for i in 0..3 {
            assert_eq!(m[i]["VolumeOptions"]["Labels"][OWNER_LABEL], "alice", "{i}");
        }
        assert_eq!(m[2]["VolumeOptions"]["Labels"]["a"], "b");
        assert_eq!(m[2]["VolumeOptions"]["NoCopy"], true);
        assert!(m[3].get("VolumeOptions").is_none());
        assert!(m[4].get("VolumeOptions").is_none());
        let v = stamped(
            OpKind::ServiceCreate,
            r#"{"TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"volume","Source":"data","Target":"/d"}]}}}"#,
        )
        .unwrap();
        assert_eq!(
            v["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["VolumeOptions"]["Labels"][OWNER_LABEL],
            "alice"
        );
        assert_eq!(
            stamped(
                OpKind::ServiceUpdate,
                r#"{"TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"volume","Source":"d","Target":"/d","VolumeOptions":{"Labels":{"io.portcullis.owner":"bob"}}}]}}}"#,
            )
            .unwrap_err(),
            Forged {
                field: "Mounts.VolumeOptions.Labels",
                value: "bob".into()
            }
        );
    }

    #[test]
    fn ops_without_labels_are_left_alone() {
        let mut v = read_body(br#"{"Cmd":["true"]}"#, None).unwrap();
        let before = v.clone();
        stamp(OpKind::ExecCreate, &mut v, &alice()).unwrap();
        assert_eq!(v, before);
    }

    #[test]
    fn build_labels_are_stamped_as_go_reads_them() {
        let t = alice();
        assert_eq!(
            stamp_label_query(None, &t).unwrap(),
            r#"{"io.portcullis.owner":"alice"}"#
        );
        assert_eq!(
            stamp_label_query(Some(""), &t).unwrap(),
            r#"{"io.portcullis.owner":"alice"}"#
        );
        assert_eq!(
            stamp_label_query(Some("null"), &t).unwrap(),
            r#"{"io.portcullis.owner":"alice"}"#
        );
        assert_eq!(
            stamp_label_query(Some(r#"{"b":"1","a":null,"b":"2"}"#), &t).unwrap(),
            r#"{"a":"","b":"2","io.portcullis.owner":"alice"}"#
        );
        // The last of repeated keys is what Go keeps: a forged owner hidden behind an
        // honest one is still found.
        assert!(matches!(
            stamp_label_query(
                Some(r#"{"io.portcullis.owner":"alice","io.portcullis.owner":"bob"}"#),
                &t
            ),
            Err(StampQueryError::Forged(_))
        ));
        assert!(stamp_label_query(Some(r#"{"io.portcullis.owner":"alice"}"#), &t).is_ok());
        for bad in ["[]", r#"{"a":1}"#, "{", r#""x""#] {
            assert!(matches!(
                stamp_label_query(Some(bad), &t),
                Err(StampQueryError::Invalid(_))
            ));
        }
    }
}

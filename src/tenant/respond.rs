//! Answers the daemon cannot narrow by label, narrowed in the response phase.
//!
//! `GET /system/df` is one: it has no `filters` parameter. Its answer is small (one
//! JSON document), so it is read whole, narrowed and re-serialised. A tenant's network
//! list is the other way round: the owner filter leaves out the daemon's predefined
//! networks (`bridge`, `host`, `none`), which everyone may name, so those matching the
//! client's own filters are fetched apart ([`builtin_networks_query`]) and added
//! ([`add_builtin_networks`]).

use super::{Tenant, OWNER_LABEL};
use crate::docker::filters::Filters;
use crate::docker::query::Query;

/// The query of a network list for the daemon's predefined networks that match the
/// client's `query`: its filters with `type=builtin`; `None` when its own `type` filter
/// excludes them (or its filters cannot be read, which the guard refuses anyway).
pub fn builtin_networks_query(query: &Query) -> Option<Query> {
    let mut filters = Filters::parse(query.get("filters").unwrap_or("")).ok()?;
    let types: Vec<&str> = filters.values("type").collect();
    if !types.is_empty() && !types.contains(&"builtin") {
        return None;
    }
    filters.set_only("type", "builtin");
    let mut q = query.clone();
    q.replace_all("filters", filters.to_json());
    Some(q)
}

/// Append to a tenant's network list the predefined networks it lacks (by `Id`).
pub fn add_builtin_networks(list: &mut serde_json::Value, builtins: serde_json::Value) {
    let (Some(list), serde_json::Value::Array(builtins)) = (list.as_array_mut(), builtins) else {
        return;
    };
    for net in builtins {
        let id = net.get("Id");
        if !list.iter().any(|n| n.get("Id") == id) {
            list.push(net);
        }
    }
}

/// Narrow a `/system/df` answer to `tenant`: its own containers and volumes; images (shared
/// content, listed to everyone) with their container counts recounted over the tenant's
/// containers; no build cache (it has no owner).
pub fn narrow_system_df(df: &mut serde_json::Value, tenant: &Tenant) {
    let owned = |item: &serde_json::Value| {
        item.get("Labels")
            .and_then(|l| l.get(OWNER_LABEL))
            .and_then(|v| v.as_str())
            == Some(tenant.as_str())
    };
    let Some(top) = df.as_object_mut() else {
        return;
    };
    let mut image_use: Vec<String> = Vec::new();
    if let Some(serde_json::Value::Array(list)) = top.get_mut("Containers") {
        list.retain(owned);
        image_use = list
            .iter()
            .filter_map(|c| {
                c.get("ImageID")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .collect();
    }
    if let Some(serde_json::Value::Array(list)) = top.get_mut("Volumes") {
        list.retain(owned);
    }
    if let Some(serde_json::Value::Array(list)) = top.get_mut("Images") {
        for image in list {
            let id = image.get("Id").and_then(|v| v.as_str()).unwrap_or("");
            let uses = image_use.iter().filter(|u| u.as_str() == id).count();
            if let Some(obj) = image.as_object_mut() {
                if obj.contains_key("Containers") {
                    obj.insert("Containers".into(), uses.into());
                }
            }
        }
    }
    if let Some(cache) = top.get_mut("BuildCache") {
        if cache.is_array() {
            *cache = serde_json::Value::Array(Vec::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builtin_filters(raw: &str) -> Option<String> {
        let q = Query::parse(raw).unwrap();
        builtin_networks_query(&q).map(|q| q.get("filters").unwrap_or("").to_string())
    }

    #[test]
    fn builtin_networks_keep_the_clients_filters() {
        assert_eq!(
            builtin_filters("").as_deref(),
            Some(r#"{"type":{"builtin":true}}"#)
        );
        // {"name":{"br":true},"driver":{"bridge":true}}
        assert_eq!(
            builtin_filters("filters=%7B%22name%22%3A%7B%22br%22%3Atrue%7D%2C%22driver%22%3A%7B%22bridge%22%3Atrue%7D%7D")
                .as_deref(),
            Some(r#"{"driver":{"bridge":true},"name":{"br":true},"type":{"builtin":true}}"#)
        );
        // {"type":["builtin","custom"]}: only the builtins are added.
        assert_eq!(
            builtin_filters("filters=%7B%22type%22%3A%5B%22builtin%22%2C%22custom%22%5D%7D")
                .as_deref(),
            Some(r#"{"type":{"builtin":true}}"#)
        );
        // {"type":["custom"]}: none.
        assert_eq!(
            builtin_filters("filters=%7B%22type%22%3A%5B%22custom%22%5D%7D"),
            None
        );
        assert_eq!(builtin_filters("filters=%5B%5D"), None);
    }

    #[test]
    fn builtin_networks_are_added_once() {
        let mut list = json!([{"Id": "n1", "Name": "alice-net"}, {"Id": "b1", "Name": "bridge"}]);
        add_builtin_networks(
            &mut list,
            json!([{"Id": "b1", "Name": "bridge"}, {"Id": "h1", "Name": "host"}]),
        );
        assert_eq!(
            list,
            json!([
                {"Id": "n1", "Name": "alice-net"},
                {"Id": "b1", "Name": "bridge"},
                {"Id": "h1", "Name": "host"}
            ])
        );
    }

    #[test]
    fn system_df_shows_only_the_tenants_objects() {
        let mut df = json!({
            "LayersSize": 100,
            "Images": [
                {"Id": "sha256:i1", "Containers": 3, "Labels": null},
                {"Id": "sha256:i2", "Containers": 1, "Labels": {}}
            ],
            "Containers": [
                {"Id": "c1", "ImageID": "sha256:i1", "Labels": {"io.portcullis.owner": "alice"}},
                {"Id": "c2", "ImageID": "sha256:i1", "Labels": {"io.portcullis.owner": "bob"}},
                {"Id": "c3", "ImageID": "sha256:i2", "Labels": {}},
                {"Id": "c4", "ImageID": "sha256:i1", "Labels": null}
            ],
            "Volumes": [
                {"Name": "a", "Labels": {"io.portcullis.owner": "alice"}},
                {"Name": "b", "Labels": {"io.portcullis.owner": "alice "}},
                {"Name": "op", "Labels": null}
            ],
            "BuildCache": [{"ID": "x"}]
        });
        narrow_system_df(&mut df, &Tenant::new("alice").unwrap());
        assert_eq!(
            df,
            json!({
                "LayersSize": 100,
                "Images": [
                    {"Id": "sha256:i1", "Containers": 1, "Labels": null},
                    {"Id": "sha256:i2", "Containers": 0, "Labels": {}}
                ],
                "Containers": [
                    {"Id": "c1", "ImageID": "sha256:i1", "Labels": {"io.portcullis.owner": "alice"}}
                ],
                "Volumes": [
                    {"Name": "a", "Labels": {"io.portcullis.owner": "alice"}}
                ],
                "BuildCache": []
            })
        );
    }
}

//! Answers the daemon cannot narrow by label, narrowed in the response phase.
//!
//! Only `GET /system/df` is one: it has no `filters` parameter. Its answer is small (one
//! JSON document), so it is read whole, narrowed and re-serialised.

use super::{Tenant, OWNER_LABEL};

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

//! Lists, prunes and events narrowed to one tenant by the daemon's own `filters`.
//!
//! For these operations the owner label is added to the `filters` query parameter (see
//! [`crate::docker::filters`]): the daemon filters, the answer streams through unbuffered,
//! and the client's own filters still apply (dockerd ANDs label filters). The operations
//! whose answers the daemon cannot narrow by label are named by [`Narrowing`].
//!
//! Read off dockerd 20.10 in swarm mode: a task list's `label` filter matches the labels
//! Portcullis stamps on the service and its task template (the task's own `Labels` stay
//! empty); a service list's label filters become a map, so of two values for one label
//! name a random one applies — which is why the client's own owner filters are dropped.

use super::{Tenant, OWNER_LABEL};
use crate::docker::filters::{FilterError, Filters};
use crate::docker::query::Query;
use crate::docker::route::OpKind;

/// How a tenant's view of an operation's answer is narrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Narrowing {
    /// The owner label is added to the daemon's `filters`.
    DaemonFilter,
    /// The daemon cannot filter it: the response body is narrowed (`/system/df`).
    ResponseBody,
    /// Not a list of owned objects.
    None,
}

/// How `op`'s answer is narrowed for a tenant.
pub fn narrowing(op: OpKind) -> Narrowing {
    match op {
        OpKind::ContainerList
        | OpKind::VolumeList
        | OpKind::NetworkList
        | OpKind::ServiceList
        | OpKind::TaskList
        | OpKind::SecretList
        | OpKind::ConfigList
        | OpKind::Events
        | OpKind::ContainerPrune
        | OpKind::VolumePrune
        | OpKind::NetworkPrune
        | OpKind::ImagePrune => Narrowing::DaemonFilter,
        OpKind::SystemDf => Narrowing::ResponseBody,
        _ => Narrowing::None,
    }
}

/// Narrow the `filters` of a list, prune or events request to `tenant`'s objects. Every
/// `filters` parameter is replaced by one canonical value (dockerd reads only the first;
/// the rest would be noise the daemon never sees).
pub fn narrow_query(query: &mut Query, tenant: &Tenant) -> Result<(), FilterError> {
    let mut filters = Filters::parse(query.get("filters").unwrap_or(""))?;
    filters.restrict_label(OWNER_LABEL, tenant.as_str());
    query.replace_all("filters", filters.to_json());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn narrowed(raw: &str) -> Result<Query, FilterError> {
        let mut q = Query::parse(raw).unwrap();
        narrow_query(&mut q, &Tenant::new("alice").unwrap())?;
        Ok(q)
    }

    #[test]
    fn the_owner_joins_the_clients_filters() {
        let q = narrowed("all=1").unwrap();
        assert_eq!(q.get("all"), Some("1"));
        assert_eq!(
            q.get("filters"),
            Some(r#"{"label":{"io.portcullis.owner=alice":true}}"#)
        );
        let q = narrowed("filters=%7B%22label%22%3A%5B%22app%3Dweb%22%5D%7D").unwrap();
        assert_eq!(
            q.get("filters"),
            Some(r#"{"label":{"app=web":true,"io.portcullis.owner=alice":true}}"#)
        );
        // A second filters parameter (ignored by dockerd) is not forwarded.
        let q = narrowed("filters=%7B%7D&filters=x&all=1").unwrap();
        assert_eq!(q.all("filters").count(), 1);
        assert!(q.encode().ends_with("all=1"), "{}", q.encode());
    }

    #[test]
    fn a_client_cannot_widen_or_repoint_the_owner_filter() {
        for raw in [
            r#"{"label":["io.portcullis.owner=bob"]}"#,
            r#"{"label":{"io.portcullis.owner=alice":true},"label":{}}"#,
            r#"{"label":{"io.portcullis.owner":true}}"#,
        ] {
            let mut q = Query::default();
            q.push("filters", raw);
            narrow_query(&mut q, &Tenant::new("alice").unwrap()).unwrap();
            let f = Filters::parse(q.get("filters").unwrap()).unwrap();
            assert_eq!(
                f.values("label").collect::<Vec<_>>(),
                ["io.portcullis.owner=alice"],
                "{raw}"
            );
        }
    }

    #[test]
    fn unreadable_filters_are_refused() {
        assert!(narrowed("filters=%5B%5D").is_err());
        assert!(narrowed("filters=%7B").is_err());
    }

    #[test]
    fn every_list_of_owned_objects_is_narrowed() {
        use OpKind::*;
        for op in [
            ContainerList,
            VolumeList,
            NetworkList,
            ServiceList,
            TaskList,
            SecretList,
            ConfigList,
            Events,
            ContainerPrune,
            VolumePrune,
            NetworkPrune,
            ImagePrune,
        ] {
            assert_eq!(narrowing(op), Narrowing::DaemonFilter, "{op:?}");
        }
        assert_eq!(narrowing(SystemDf), Narrowing::ResponseBody);
        assert_eq!(narrowing(ContainerInspect), Narrowing::None);
    }
}

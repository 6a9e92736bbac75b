//! Images under tenant isolation: shared content, names with owners.
//!
//! Images are shared: every tenant lists, inspects, pulls and runs every image. What a
//! tenant can change is guarded, because one name (`nginx:latest`) is what every tenant
//! and the operator run:
//!
//! - An image is the tenant's when its `Config.Labels` carry the tenant's owner label:
//!   Portcullis stamps it into builds (`labels`), commits (the container's and the
//!   body's labels) and imports (a `LABEL` change). Pulled images are nobody's.
//! - With `[tenants] image_prefix = "{tenant}/"` every name under the tenant's prefix
//!   (`alice/…`) is the tenant's, and the tenant can give images no other names.
//! - A tenant removes (`DELETE /images/{name}`) a name only when the name is its own
//!   (under its prefix) or the image is its own and the name is in no other tenant's
//!   prefix; removing by id or digest needs every name of the image to be removable.
//! - A name a request creates or moves (tag target, build `t`, commit and import `repo`)
//!   must be new, or held by the tenant's own image (or be under its prefix).
//! - A pull may replace an existing name only when that name came from the registry
//!   (the image has a `RepoDigests` entry of that repository: a refresh), or is the
//!   tenant's; a pull by name alone (all tags) is refused unless under its prefix, and a
//!   pull under another tenant's prefix is refused (squatting).
//! - A BuildKit build's `outputs` must not name or push an image (only `t` names one).
//! - A tenant pushes only its own images (stamped content) or pulled ones (a
//!   `RepoDigests` entry: public content), one tag at a time, and under its prefix when
//!   one is set: an operator's image that exists only locally is never pushed.
//! - `docker load` is refused: the names are inside the archive, so any name could be
//!   overwritten (unless `[tenants] allow_image_load = true` accepts that risk).
//!
//! Images are visible to every tenant, so refusals are policy denials (PC-1045..1047)
//! naming the reason, not 404s. Pure: the daemon's answers come in through [`Facts`].

use super::{Tenant, OWNER_LABEL};
use crate::docker::query::Query;
use crate::docker::route::OpKind;
use crate::policy::rules as r;
use crate::policy::{Facts, ImageFacts, Lookup, Violation};

/// The placeholder of the tenant key in `image_prefix`.
pub const TENANT_PLACEHOLDER: &str = "{tenant}";

/// A validated `image_prefix`: `base` + tenant key + `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePrefix {
    /// What comes before the tenant key: empty, or a repository path ending in `/`
    /// (`registry.example.com/team/`).
    base: String,
}

impl ImagePrefix {
    /// Read an `image_prefix` setting: it must end with `{tenant}/`, name the tenant once,
    /// and otherwise be a lower-case repository path, so that no tenant's names lie
    /// inside another's.
    pub fn parse(template: &str) -> Result<ImagePrefix, String> {
        let Some(base) = template.strip_suffix("{tenant}/") else {
            return Err(format!(
                "tenants.image_prefix {template:?} must end with \"{{tenant}}/\" (for example \"{{tenant}}/\" or \"registry.example.com/{{tenant}}/\")"
            ));
        };
        let ok = base.is_empty()
            || (base.ends_with('/')
                && !base.starts_with('/')
                && !base.contains("//")
                && base.bytes().all(
                    |b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'/' | b':'),
                ));
        if !ok {
            return Err(format!(
                "tenants.image_prefix {template:?}: before {{tenant}} only a lower-case repository path ending in \"/\" may stand"
            ));
        }
        Ok(ImagePrefix {
            base: base.to_string(),
        })
    }

    /// The tenant's prefix, when its key can be a repository path component (lower-case
    /// letters, digits, and `.`, `_`, `-` between them).
    pub fn of(&self, tenant: &Tenant) -> Option<String> {
        let key = tenant.as_str();
        (path_component(key) && !(self.base.is_empty() && registry_like(key)))
            .then(|| format!("{}{key}/", self.base))
    }

    /// The tenant whose prefix holds the image name `name` (tag and digest ignored).
    pub fn holder<'n>(&self, name: &'n str) -> Option<&'n str> {
        let rest = repository(name).strip_prefix(self.base.as_str())?;
        let (key, below) = rest.split_once('/')?;
        // With an empty base, a first component that reads as a registry (`ghcr.io/…`)
        // is nobody's prefix: no tenant key can be one.
        let domain = self.base.is_empty() && registry_like(key);
        (!key.is_empty() && !below.is_empty() && !domain).then_some(key)
    }

    /// The template, for `policy explain`.
    pub fn describe(&self) -> String {
        format!("{}{TENANT_PLACEHOLDER}/", self.base)
    }
}

/// Whether `s` is one repository path component as distribution's grammar reads it.
fn path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter()
            .all(|&c| alnum(c) || matches!(c, b'.' | b'_' | b'-'))
}

/// Whether the first component of an image name reads as a registry domain to the
/// daemon (distribution's `splitDockerDomain`): it has a `.` or `:`, is `localhost`, or
/// has an upper-case letter.
fn registry_like(component: &str) -> bool {
    component.contains(['.', ':'])
        || component == "localhost"
        || component.bytes().any(|b| b.is_ascii_uppercase())
}

/// The repository of a reference in the daemon's familiar form: the digest and tag
/// dropped, Docker Hub's `docker.io/` (or `index.docker.io/`) and `library/` removed.
pub fn repository(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or("");
    let name = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    };
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    name.strip_prefix("library/")
        .filter(|rest| !rest.contains('/'))
        .unwrap_or(name)
}

/// A reference's tag, if it names one.
fn tag_of(reference: &str) -> Option<&str> {
    let name = reference.split('@').next().unwrap_or("");
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => Some(&name[i + 1..]),
        _ => None,
    }
}

/// `repository:tag` in familiar form (`latest` when there is no tag); `None` for a
/// digest reference, which names no tag.
pub fn tagged(reference: &str) -> Option<String> {
    if reference.contains('@') {
        return None;
    }
    Some(format!(
        "{}:{}",
        repository(reference),
        tag_of(reference).unwrap_or("latest")
    ))
}

/// The image name `repo` with `tag` (the query parameters of tag, commit, import and
/// pull); the tag inside `repo` stands when `tag` is empty.
fn join(repo: &str, tag: &str) -> String {
    if tag.is_empty() {
        repo.to_string()
    } else if tag.contains(':') {
        format!("{repo}@{tag}")
    } else {
        format!("{}:{tag}", repository(repo))
    }
}

/// The tenant's image rules for a request, and the image lookups still needed.
pub fn assess(
    prefix: Option<&ImagePrefix>,
    allow_load: bool,
    tenant: &Tenant,
    op: OpKind,
    target: Option<&str>,
    query: &Query,
    facts: &Facts,
) -> (Vec<Violation>, Vec<Lookup>) {
    let mut g = Images {
        prefix,
        tenant,
        facts,
        out: Vec::new(),
        need: Vec::new(),
    };
    match op {
        OpKind::ImageDelete => {
            if let Some(name) = target {
                g.remove(name);
            }
        }
        OpKind::ImageTag => {
            let repo = query.get("repo").unwrap_or("");
            if !repo.is_empty() {
                g.name(&join(repo, query.get("tag").unwrap_or("")), "tag");
            }
        }
        OpKind::Build => {
            for t in query.all("t").filter(|t| !t.is_empty()) {
                g.name(t, "build");
            }
            for outputs in query.all("outputs") {
                g.outputs(outputs);
            }
        }
        OpKind::Commit => {
            let repo = query.get("repo").unwrap_or("");
            if !repo.is_empty() {
                g.name(&join(repo, query.get("tag").unwrap_or("")), "commit");
            }
            g.changes(query);
        }
        OpKind::ImageCreate => {
            let from_image = query.get("fromImage").unwrap_or("");
            if !from_image.is_empty() {
                g.pull(from_image, query.get("tag").unwrap_or(""));
            } else {
                let repo = query.get("repo").unwrap_or("");
                if !repo.is_empty() {
                    g.name(&join(repo, query.get("tag").unwrap_or("")), "import");
                }
                g.changes(query);
            }
        }
        OpKind::ImagePush => {
            if let Some(name) = target {
                g.push(name, query.get("tag").unwrap_or(""));
            }
        }
        OpKind::ImageLoad if !allow_load => g.deny(
            r::TENANT_IMAGE_LOAD,
            "docker load is refused while tenants are isolated: the image names are inside the archive, so it could replace any tenant's or the operator's image; push the image to a registry and pull it, or import it (docker import) under a name of your own (or the operator sets [tenants] allow_image_load)".into(),
        ),
        _ => {}
    }
    (g.out, g.need)
}

/// Stamp the owner into an import: a `LABEL` change the daemon applies to the image,
/// put first so that no change of the client's can continue into it (a trailing `\`).
pub fn rewrite(op: OpKind, query: &mut Query, tenant: &Tenant) {
    if op == OpKind::ImageCreate && query.get("fromImage").unwrap_or("").is_empty() {
        // Inside double quotes the daemon's word processing reads `\`, `"` and `$`.
        let key = tenant
            .as_str()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$");
        query.prepend("changes", format!("LABEL \"{OWNER_LABEL}\"=\"{key}\""));
    }
}

/// Why the `changes` of a commit or import (joined by newlines, as dockerd parses them)
/// could set the owner label, if they could: a comment or parser directive line
/// (`# escape=…` changes how everything after it reads), or a `LABEL` (anywhere, even
/// split across changes by a line continuation) that names the owner label or holds an
/// escape or a `$variable`, which the daemon expands from the container's environment.
fn changes_threat(text: &str) -> Option<&'static str> {
    if text
        .split(['\n', '\r'])
        .any(|line| line.trim_start().starts_with('#'))
    {
        return Some("hold a comment or parser directive line (# …), which could change how the daemon reads them");
    }
    let squash = |text: &str| -> String {
        text.chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '\\' | '`' | '"' | '\''))
            .flat_map(char::to_lowercase)
            .collect()
    };
    let squashed = squash(text);
    if !squashed.contains("label") {
        return None;
    }
    if squashed.contains(OWNER_LABEL) || squashed.contains("portcullis") {
        return Some("name the owner label");
    }
    if text.contains('\\') {
        return Some("hold an escape (\\) next to a LABEL, which could spell the owner label");
    }
    // Without escapes (and directives) every line is one instruction, as Go splits them.
    if text
        .split('\n')
        .any(|line| line.contains('$') && squash(line).contains("label"))
    {
        return Some("set a label with a $variable, which the daemon expands from the container's environment");
    }
    None
}

/// Whether any object key in a JSON document, repeated ones included, mentions `name` or
/// `push` (case-insensitively).
struct KeyScan(bool);

impl<'de> serde::Deserialize<'de> for KeyScan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyScanVisitor).map(KeyScan)
    }
}

struct KeyScanVisitor;

impl<'de> serde::de::Visitor<'de> for KeyScanVisitor {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(KeyScan(f)) = seq.next_element()? {
            found |= f;
        }
        Ok(found)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            let key = key.to_lowercase();
            found |= key.contains("name") || key.contains("push");
            let KeyScan(f) = map.next_value()?;
            found |= f;
        }
        Ok(found)
    }
}

struct Images<'a> {
    prefix: Option<&'a ImagePrefix>,
    tenant: &'a Tenant,
    facts: &'a Facts,
    out: Vec<Violation>,
    need: Vec<Lookup>,
}

/// What is known of an image.
enum Seen<'f> {
    Unknown,
    Absent,
    Found(&'f ImageFacts),
}

impl<'a> Images<'a> {
    fn deny(&mut self, rule: &'static str, message: String) {
        let v = Violation { rule, message };
        if !self.out.contains(&v) {
            self.out.push(v);
        }
    }

    fn image(&mut self, name: &str) -> Seen<'a> {
        match self.facts.images.get(name) {
            None => {
                let l = Lookup::Image(name.to_string());
                if !self.need.contains(&l) {
                    self.need.push(l);
                }
                Seen::Unknown
            }
            Some(None) => Seen::Absent,
            Some(Some(f)) => Seen::Found(f),
        }
    }

    /// The tenant holding `name` through its prefix, if a prefix is set.
    fn holder<'n>(&self, name: &'n str) -> Option<&'n str> {
        self.prefix.and_then(|p| p.holder(name))
    }

    fn own_name(&self, name: &str) -> bool {
        self.prefix
            .and_then(|p| p.of(self.tenant))
            .is_some_and(|mine| repository(name).starts_with(&mine))
    }

    fn own_content(&self, f: &ImageFacts) -> bool {
        f.owner.as_deref() == Some(self.tenant.as_str())
    }

    /// Whether the tenant may take the name `name` away from the image `f`.
    fn may_drop(&self, name: &str, f: &ImageFacts) -> bool {
        match self.holder(name) {
            Some(_) => self.own_name(name),
            None => self.own_content(f),
        }
    }

    /// The prefix rule for a name the tenant gives an image.
    fn within_prefix(&mut self, name: &str, what: &str) -> bool {
        let Some(prefix) = self.prefix else {
            return true;
        };
        if self.own_name(name) {
            return true;
        }
        let message = match prefix.of(self.tenant) {
            Some(mine) => format!(
                "the {what} names the image {name:?}: this policy confines the tenant's image names to {mine}…"
            ),
            None if prefix.base.is_empty() && registry_like(self.tenant.as_str()) => format!(
                "the {what} names the image {name:?}, but the tenant key {:?} reads as a registry domain (it has a . or : or is localhost), so \"{{tenant}}/\" would hand it that registry's names: ask the operator for another tenant key, or for an image_prefix with a registry before {{tenant}}",
                self.tenant.as_str()
            ),
            None => format!(
                "the {what} names the image {name:?}, but the tenant key {:?} cannot start an image name (only lower-case letters, digits and . _ - between them): ask the operator for another tenant key",
                self.tenant.as_str()
            ),
        };
        self.deny(r::TENANT_IMAGE_PREFIX, message);
        false
    }

    /// A name a build, tag, commit or import gives an image: within the prefix, and new
    /// or the tenant's own.
    fn name(&mut self, name: &str, what: &str) {
        if !self.within_prefix(name, what) || self.own_name(name) {
            return;
        }
        let key = tagged(name).unwrap_or_else(|| name.to_string());
        if let Seen::Found(f) = self.image(&key) {
            if !self.own_content(f) {
                self.deny(
                    r::TENANT_IMAGE,
                    format!("the {what} would move the name {name:?}, which an image that is not the tenant's holds: choose a name of your own"),
                );
            }
        }
    }

    /// `DELETE /images/{name}`.
    fn remove(&mut self, name: &str) {
        let Seen::Found(f) = self.image(name) else {
            return;
        };
        let by_tag =
            tagged(name).filter(|t| f.tags.iter().any(|have| tagged(have).as_ref() == Some(t)));
        let allowed = self.own_name(name)
            || match &by_tag {
                Some(t) => self.may_drop(t, f),
                // By id or digest: every name goes, and untagged content with it.
                None => self.own_content(f) && f.tags.iter().all(|t| self.may_drop(t, f)),
            };
        if !allowed {
            self.deny(
                r::TENANT_IMAGE,
                format!("the image {name:?} is not the tenant's (it was pulled, or built by another tenant or the operator): tenants remove only images they built, committed or imported, and names of their own"),
            );
            return;
        }
        // Not from under the containers of other tenants or the operator (dockerd
        // refuses only without force).
        if f.id.is_empty() {
            return;
        }
        match self.facts.image_users.get(&f.id) {
            None => self.need.push(Lookup::ImageUsers(f.id.clone())),
            Some(None) => {}
            Some(Some(users)) => {
                // Untagging one of several names touches only the containers created
                // with that name; the last name or the id, every one.
                let only = by_tag.filter(|_| f.tags.len() > 1);
                let affected = |image: &str| match &only {
                    Some(t) => tagged(image).as_ref() == Some(t),
                    None => true,
                };
                if users
                    .iter()
                    .any(|(owner, image)| owner != self.tenant.as_str() && affected(image))
                {
                    self.deny(
                        r::TENANT_IMAGE,
                        format!("the image {name:?} is used by containers that are not the tenant's: it cannot be removed while they exist"),
                    );
                }
            }
        }
    }

    /// `POST /images/create?fromImage=…&tag=…`.
    fn pull(&mut self, from_image: &str, tag: &str) {
        let name = join(from_image, tag);
        if self.own_name(&name) {
            return;
        }
        // Another tenant's prefix: a pull would plant content that tenant did not choose
        // under a name it trusts as its own (with "{tenant}/" that includes Docker Hub
        // organisations named like a tenant key).
        if let Some(other) = self.holder(&name) {
            self.deny(
                r::TENANT_IMAGE_PREFIX,
                format!("the pull names the image {name:?}, which lies under the image prefix of the tenant {other:?}: tenants pull names outside other tenants' prefixes (the operator may put a registry before {{tenant}} in image_prefix so that Docker Hub names are nobody's prefix)"),
            );
            return;
        }
        let Some(tagged_name) = tagged(&name) else {
            return; // By digest: no tag moves.
        };
        if tag_of(&name).is_none() {
            self.deny(
                r::TENANT_IMAGE,
                format!("pulling every tag of {name:?} could replace names that are not the tenant's: pull one tag at a time"),
            );
            return;
        }
        if let Seen::Found(f) = self.image(&tagged_name) {
            let repo = repository(&name);
            let from_registry = f.digests.iter().any(|d| repository(d) == repo);
            if !from_registry && !self.own_content(f) {
                self.deny(
                    r::TENANT_IMAGE,
                    format!("the name {tagged_name:?} is held by a local image that is not the tenant's (built, loaded or imported here): pulling would replace it"),
                );
            }
        }
    }

    /// `POST /images/{name}/push?tag=…`.
    fn push(&mut self, name: &str, tag: &str) {
        let full = join(name, tag);
        if tag_of(&full).is_none() && !full.contains('@') {
            self.deny(
                r::TENANT_IMAGE,
                format!("pushing every tag of {name:?} is refused while tenants are isolated: push one tag at a time"),
            );
            return;
        }
        if !self.within_prefix(&full, "push") {
            return;
        }
        if let Seen::Found(f) = self.image(&full) {
            // Content that came from a registry is public in this model (any tenant can
            // pull or save it): the mirror workflow (pull, tag as one's own, push) works.
            let pulled = !f.digests.is_empty();
            if !self.own_content(f) && !pulled {
                self.deny(
                    r::TENANT_IMAGE,
                    format!("the image {full:?} is not the tenant's and came from no registry: tenants push only images they built, committed, imported or pulled"),
                );
            }
        }
    }

    /// The `changes` of a commit or import must not set the owner label (Portcullis
    /// sets it), nor be able to spell it (see [`changes_threat`]).
    fn changes(&mut self, query: &Query) {
        let joined = query.all("changes").collect::<Vec<_>>().join("\n");
        if let Some(why) = changes_threat(&joined) {
            self.deny(
                r::TENANT_OWNER,
                format!("the changes {joined:?} {why}: they could set the owner label {OWNER_LABEL}, which is the tenant, {:?}, and which Portcullis sets; drop the LABEL change or spell it plainly", self.tenant.as_str()),
            );
        }
    }

    /// A BuildKit build's `outputs` (`[{"Type":"moby","Attrs":{"name":"nginx:latest"}}]`)
    /// name and push images as `t` does, out of sight of the tag rules: refused when any
    /// key in them, at any depth and however repeated (Go merges repeated `Attrs` maps and
    /// matches `Type`/`Attrs` case-insensitively), mentions a name or a push.
    fn outputs(&mut self, raw: &str) {
        if raw.trim().is_empty() {
            return;
        }
        let why = match serde_json::from_str::<KeyScan>(raw) {
            Ok(KeyScan(false)) => return,
            Ok(KeyScan(true)) => "name or push an image",
            Err(_) => "are not a JSON list of outputs",
        };
        self.deny(
            r::TENANT_IMAGE,
            format!("the build's outputs {raw:?} {why}: while tenants are isolated a build names its image only with -t (docker build -t …), where the image name rules apply"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Tenant {
        Tenant::new("alice").unwrap()
    }

    fn image(owner: Option<&str>, tags: &[&str], digests: &[&str]) -> Option<ImageFacts> {
        Some(ImageFacts {
            id: "sha256:1".into(),
            owner: owner.map(str::to_string),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            digests: digests.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    }

    /// `nginx:latest` pulled (the operator's or anybody's), `corp/app:1` built by the
    /// operator, `bob/tool:1` and `tools:1` built by bob, `mine:1` built by alice (also
    /// tagged `shared:1`... by nobody else), `alice/base:1` a pulled image alice tagged
    /// under her prefix, `ghost:1` missing.
    fn facts() -> Facts {
        let mut f = Facts::default();
        for (name, img) in [
            (
                "nginx:latest",
                image(None, &["nginx:latest"], &["nginx@sha256:aa"]),
            ),
            (
                "nginx",
                image(None, &["nginx:latest"], &["nginx@sha256:aa"]),
            ),
            ("corp/app:1", image(None, &["corp/app:1"], &[])),
            ("bob/tool:1", image(Some("bob"), &["bob/tool:1"], &[])),
            ("tools:1", image(Some("bob"), &["tools:1"], &[])),
            ("alice/local:1", image(None, &["alice/local:1"], &[])),
            ("mine:1", image(Some("alice"), &["mine:1"], &[])),
            (
                "sha256:2",
                image(Some("alice"), &["mine:1", "alice/x:1"], &[]),
            ),
            (
                "sha256:3",
                image(Some("alice"), &["mine:1", "bob/y:1"], &[]),
            ),
            ("sha256:4", image(None, &["alice/base:1"], &[])),
            (
                "alice/base:1",
                image(
                    None,
                    &["alice/base:1", "nginx:latest"],
                    &["nginx@sha256:aa"],
                ),
            ),
        ] {
            f.images.insert(name.into(), img);
        }
        f.image_users.insert("sha256:1".into(), None);
        for missing in [
            "ghost:1",
            "ghost",
            "new:1",
            "alice/new:1",
            "bob/new:1",
            "busybox:1.36",
            "ghcr.io/bob/tool:1",
        ] {
            f.images.insert(missing.into(), None);
        }
        f
    }

    fn decide(
        prefix: Option<&str>,
        op: OpKind,
        target: Option<&str>,
        query: &str,
    ) -> Vec<&'static str> {
        let prefix = prefix.map(|p| ImagePrefix::parse(p).unwrap());
        let q = Query::parse(query).unwrap();
        let (out, need) = assess(prefix.as_ref(), false, &alice(), op, target, &q, &facts());
        assert!(
            need.is_empty(),
            "{op:?} {target:?} {query}: still needs {need:?}"
        );
        out.iter().map(|v| v.rule).collect()
    }

    const OK: &[&str] = &[];
    const IMG: &[&str] = &["PC-1045"];
    const PFX: &[&str] = &["PC-1046"];

    #[test]
    fn removes_only_own_images_and_names() {
        for (prefix, target, want) in [
            (None, "mine:1", OK),
            (None, "nginx", IMG),
            (None, "nginx:latest", IMG),
            (None, "corp/app:1", IMG),
            (None, "tools:1", IMG),
            (None, "ghost:1", OK), // the daemon answers 404
            // By id: every name goes; bob's prefix name is not alice's to drop.
            (None, "sha256:2", OK),
            (Some("{tenant}/"), "sha256:2", OK),
            (Some("{tenant}/"), "sha256:3", IMG),
            (Some("{tenant}/"), "sha256:4", IMG),
            // Her prefix makes the name hers, whoever's content it holds.
            (Some("{tenant}/"), "alice/base:1", OK),
            (Some("{tenant}/"), "bob/tool:1", IMG),
        ] {
            assert_eq!(
                decide(prefix, OpKind::ImageDelete, Some(target), ""),
                want,
                "{prefix:?} {target}"
            );
        }
    }

    #[test]
    fn images_in_use_by_others_are_not_removed() {
        let prefix = ImagePrefix::parse("{tenant}/").unwrap();
        for (users, want) in [
            (None, OK),
            (Some(vec!["alice"]), OK),
            (Some(vec!["alice", "bob"]), IMG),
            (Some(vec![""]), IMG),
        ] {
            for target in ["mine:1", "alice/base:1"] {
                let mut f = facts();
                f.image_users.insert(
                    "sha256:1".into(),
                    users.clone().map(|u| {
                        u.iter()
                            .map(|o| (o.to_string(), target.to_string()))
                            .collect()
                    }),
                );
                let q = Query::parse("force=1").unwrap();
                let (out, need) = assess(
                    Some(&prefix),
                    false,
                    &alice(),
                    OpKind::ImageDelete,
                    Some(target),
                    &q,
                    &f,
                );
                let rules: Vec<&str> = out.iter().map(|v| v.rule).collect();
                assert!(need.is_empty(), "{need:?}");
                assert_eq!(rules, want, "{target} {users:?}");
            }
        }
        // Untagging one of several names concerns only containers created with it.
        for (used_as, want) in [
            ("other:1", OK),
            ("multi:1", IMG),
            ("docker.io/library/multi:1", IMG),
            ("sha256:1", OK),
        ] {
            let mut f = facts();
            f.images.insert(
                "multi:1".into(),
                image(Some("alice"), &["multi:1", "other:1"], &[]),
            );
            f.image_users.insert(
                "sha256:1".into(),
                Some(vec![("bob".into(), used_as.into())]),
            );
            let (out, _) = assess(
                None,
                false,
                &alice(),
                OpKind::ImageDelete,
                Some("multi:1"),
                &Query::parse("").unwrap(),
                &f,
            );
            let rules: Vec<&str> = out.iter().map(|v| v.rule).collect();
            assert_eq!(rules, want, "{used_as}");
        }
        // Unknown users are looked up, by the image's id.
        let mut f = facts();
        f.image_users.clear();
        let (_, need) = assess(
            None,
            false,
            &alice(),
            OpKind::ImageDelete,
            Some("mine:1"),
            &Query::parse("").unwrap(),
            &f,
        );
        assert_eq!(need, [Lookup::ImageUsers("sha256:1".into())]);
    }

    #[test]
    fn names_move_only_when_new_or_own() {
        for (prefix, op, target, query, want) in [
            (None, OpKind::ImageTag, Some("x"), "repo=new&tag=1", OK),
            (None, OpKind::ImageTag, Some("x"), "repo=mine&tag=1", OK),
            (
                None,
                OpKind::ImageTag,
                Some("x"),
                "repo=nginx&tag=latest",
                IMG,
            ),
            (None, OpKind::ImageTag, Some("x"), "repo=nginx", IMG),
            (
                None,
                OpKind::ImageTag,
                Some("x"),
                "repo=docker.io/library/nginx",
                IMG,
            ),
            (None, OpKind::ImageTag, Some("x"), "repo=tools&tag=1", IMG),
            (None, OpKind::Build, None, "t=new:1&t=nginx", IMG),
            (None, OpKind::Build, None, "t=new:1&t=mine:1", OK),
            (
                None,
                OpKind::Commit,
                None,
                "container=c&repo=corp/app&tag=1",
                IMG,
            ),
            (None, OpKind::Commit, None, "container=c&repo=new&tag=1", OK),
            (
                None,
                OpKind::ImageCreate,
                None,
                "fromSrc=-&repo=corp/app&tag=1",
                IMG,
            ),
            (None, OpKind::ImageCreate, None, "fromSrc=-&repo=new:1", OK),
            (
                Some("{tenant}/"),
                OpKind::ImageTag,
                Some("x"),
                "repo=new&tag=1",
                PFX,
            ),
            (
                Some("{tenant}/"),
                OpKind::ImageTag,
                Some("x"),
                "repo=bob/new&tag=1",
                PFX,
            ),
            (
                Some("{tenant}/"),
                OpKind::ImageTag,
                Some("x"),
                "repo=alice/base&tag=1",
                OK,
            ),
            (
                Some("{tenant}/"),
                OpKind::ImageTag,
                Some("x"),
                "repo=docker.io/alice/new&tag=1",
                OK,
            ),
            (
                Some("{tenant}/"),
                OpKind::Build,
                None,
                "t=alice/new:1&t=new:1",
                PFX,
            ),
            (
                Some("{tenant}/"),
                OpKind::Commit,
                None,
                "container=c&repo=alice/new",
                OK,
            ),
            (
                Some("{tenant}/"),
                OpKind::ImageCreate,
                None,
                "fromSrc=-&repo=new&tag=1",
                PFX,
            ),
            (
                Some("reg.example.com/{tenant}/"),
                OpKind::ImageTag,
                Some("x"),
                "repo=alice/new&tag=1",
                PFX,
            ),
        ] {
            assert_eq!(
                decide(prefix, op, target, query),
                want,
                "{prefix:?} {op:?} {query}"
            );
        }
    }

    #[test]
    fn pulls_refresh_registry_names_only() {
        for (prefix, query, want) in [
            (None, "fromImage=nginx&tag=latest", OK),
            (None, "fromImage=busybox&tag=1.36", OK),
            (None, "fromImage=mine&tag=1", OK),
            // A look-alike of a locally built name would replace it.
            (None, "fromImage=corp/app&tag=1", IMG),
            (None, "fromImage=tools:1", IMG),
            (None, "fromImage=nginx", IMG), // every tag
            (None, "fromImage=nginx@sha256:aa", OK),
            (None, "fromImage=nginx&tag=sha256:aa", OK),
            (Some("{tenant}/"), "fromImage=alice/new&tag=1", OK),
            (Some("{tenant}/"), "fromImage=alice/new", OK),
            // Another tenant's prefix: squatting, refused whether the name exists or not.
            (Some("{tenant}/"), "fromImage=bob/tool&tag=1", PFX),
            (Some("{tenant}/"), "fromImage=bob/other&tag=2", PFX),
            (Some("{tenant}/"), "fromImage=docker.io/bob/other:2", PFX),
            (Some("{tenant}/"), "fromImage=nginx&tag=latest", OK),
            // A registry is nobody's prefix.
            (Some("{tenant}/"), "fromImage=ghcr.io/bob/tool&tag=1", OK),
            (
                Some("reg.example.com/{tenant}/"),
                "fromImage=bob/tool&tag=1",
                IMG,
            ),
            (
                Some("reg.example.com/{tenant}/"),
                "fromImage=reg.example.com/bob/tool&tag=1",
                PFX,
            ),
        ] {
            assert_eq!(
                decide(prefix, OpKind::ImageCreate, None, query),
                want,
                "{prefix:?} {query}"
            );
        }
    }

    #[test]
    fn pushes_only_own_content() {
        for (prefix, target, query, want) in [
            (None, "mine", "tag=1", OK),
            (None, "mine:1", "", OK),
            // Pulled content is public: pushing it (a mirror) is allowed.
            (None, "nginx", "tag=latest", OK),
            // The operator's local build: not pushed.
            (None, "corp/app", "tag=1", IMG),
            (None, "tools:1", "", IMG),
            (None, "mine", "", IMG), // every tag
            (Some("{tenant}/"), "mine", "tag=1", PFX),
            (Some("{tenant}/"), "nginx", "tag=latest", PFX),
            // Pulled, tagged under her prefix: docker pull X; docker tag X alice/X; push.
            (Some("{tenant}/"), "alice/base", "tag=1", OK),
            // Under her prefix, but the operator's local content: not pushed.
            (Some("{tenant}/"), "alice/local", "tag=1", IMG),
        ] {
            assert_eq!(
                decide(prefix, OpKind::ImagePush, Some(target), query),
                want,
                "{prefix:?} {target} {query}"
            );
        }
    }

    #[test]
    fn loads_and_forged_changes_are_refused() {
        assert_eq!(decide(None, OpKind::ImageLoad, None, ""), ["PC-1047"]);
        let q = Query::parse("quiet=1").unwrap();
        let (out, _) = assess(None, true, &alice(), OpKind::ImageLoad, None, &q, &facts());
        assert!(out.is_empty(), "allow_image_load: {out:?}");
        for changes in [
            "LABEL%20io.portcullis.owner%3Dbob",
            "label%20%22io.portcullis.owner%22%3D%22bob%22",
            "LABEL%20io.portcullis.own%5C%0Aer%3Dbob",
            // Quotes concatenate words.
            "LABEL%20%22io.portcullis.%22owner%3Dbob",
            // $variables expand from the container's environment.
            "LABEL%20io.portcullis.%24X%3Dbob",
            "LABEL%20%24K%3D%24V",
            "LABEL%20%0D%24K%3Dbob",
            "LABEL%20a%3Db&changes=ENV%20A%3D%5C%5C",
            // A parser directive turns the escape into a backtick, and a line
            // continuation carries a LABEL across changes.
            "%23%20escape%3D%60&changes=LA%60&changes=BEL%20io.portcullis.own%60&changes=er%3Dbob",
            "LA%5C&changes=BEL%20io.portcullis.owner%3Dbob",
            "ENV%20A%3D1&changes=%23%20comment",
        ] {
            for (op, q) in [
                (OpKind::Commit, "container=c&"),
                (OpKind::ImageCreate, "fromSrc=-&"),
            ] {
                assert_eq!(
                    decide(None, op, None, &format!("{q}changes={changes}")),
                    ["PC-1040"],
                    "{changes}"
                );
            }
        }
        assert_eq!(
            decide(
                None,
                OpKind::Commit,
                None,
                "container=c&changes=LABEL%20a%3Db&changes=ENV%20P%3D%24PATH%3A%2Fx"
            ),
            OK
        );
        assert_eq!(
            decide(
                None,
                OpKind::Commit,
                None,
                "container=c&changes=ENV%20P%3D%24PATH%3A%2Fx&changes=CMD%20%5B%22a%5Cb%22%5D"
            ),
            OK
        );
    }

    #[test]
    fn imports_are_stamped() {
        let mut q = Query::parse("fromSrc=-&repo=x&changes=ENV%20A%3D1").unwrap();
        rewrite(
            OpKind::ImageCreate,
            &mut q,
            &Tenant::new("al\"i\\ce").unwrap(),
        );
        let changes: Vec<&str> = q.all("changes").collect();
        assert_eq!(
            changes,
            [r#"LABEL "io.portcullis.owner"="al\"i\\ce""#, "ENV A=1"]
        );
        // First, so that no change of the client's continues into it; `$` escaped.
        let mut q = Query::parse("fromSrc=-&changes=ENV%20A%3D1%20%5C").unwrap();
        rewrite(OpKind::ImageCreate, &mut q, &Tenant::new("a$HOME").unwrap());
        let changes: Vec<&str> = q.all("changes").collect();
        assert_eq!(
            changes,
            [r#"LABEL "io.portcullis.owner"="a\$HOME""#, "ENV A=1 \\"]
        );
        let mut q = Query::parse("fromImage=busybox&tag=1").unwrap();
        rewrite(OpKind::ImageCreate, &mut q, &alice());
        assert_eq!(q.all("changes").count(), 0);
    }

    /// Through the decide and rewrite phases, as the proxy and `policy explain` run them.
    #[test]
    fn the_pipeline_applies_the_image_rules() {
        use crate::policy::pipeline::{self, Outcome};
        use crate::policy::{Decision, Policy, PolicySet};
        use crate::tls::Identity;
        let p = Policy::from_toml(
            "name = \"i\"\n[tenants]\nimage_prefix = \"{tenant}/\"\n",
            std::path::Path::new("i.toml"),
        )
        .unwrap();
        assert!(p.tenancy.describe().contains("image names under {tenant}/"));
        let set = PolicySet::new(vec![p]).unwrap();
        let alice = Identity {
            common_name: Some("alice".into()),
            ..Identity::transport("mtls")
        };
        let check = |method: http::Method, target: &str| match pipeline::check(
            &set,
            &alice,
            &method,
            target,
            None,
            &facts(),
        ) {
            Outcome::Decided {
                decision, upstream, ..
            } => (decision, upstream),
            other => panic!("{other:?}"),
        };
        let (d, _) = check(
            http::Method::POST,
            "/v1.41/images/nginx/tag?repo=base&tag=1",
        );
        assert!(
            matches!(&d, Decision::Deny(v) if v[0].rule == "PC-1046"),
            "{d:?}"
        );
        let (d, _) = check(http::Method::POST, "/v1.41/images/load");
        assert!(
            matches!(&d, Decision::Deny(v) if v[0].rule == "PC-1047"),
            "{d:?}"
        );
        let (d, up) = check(
            http::Method::POST,
            "/v1.41/images/create?fromSrc=-&repo=alice/new&tag=1",
        );
        assert_eq!(d, Decision::Allow(vec![]));
        assert!(up.contains("changes=LABEL"), "{up}");
        assert!(up.contains("io.portcullis.owner"), "{up}");
    }

    #[test]
    fn build_outputs_name_no_image() {
        for (outputs, want) in [
            ("", OK),
            ("[]", OK),
            ("null", OK),
            (r#"[{"Type":"moby"}]"#, OK),
            (r#"[{"Type":"cacheonly","Attrs":{}}]"#, OK),
            (r#"[{"Type":"moby","Attrs":{"name":"nginx:latest"}}]"#, IMG),
            (r#"[{"Type":"image","Attrs":{"push":"true"}}]"#, IMG),
            (
                r#"[{"type":"image","attrs":{"dangling-name-prefix":"x"}}]"#,
                IMG,
            ),
            // Go merges a repeated Attrs map: the first one counts too.
            (
                r#"[{"Type":"moby","Attrs":{"name":"nginx"},"Attrs":{"a":"b"}}]"#,
                IMG,
            ),
            (r#"[{"Type":"moby","Attrs":{"\u006eame":"nginx"}}]"#, IMG),
            ("[{", IMG),
        ] {
            let mut q = Query::parse("version=2&t=alice/new:1").unwrap();
            q.push("outputs", outputs);
            let q = q.encode();
            assert_eq!(
                decide(Some("{tenant}/"), OpKind::Build, None, &q),
                want,
                "{outputs}"
            );
        }
    }

    #[test]
    fn prefixes_are_validated_and_read() {
        for bad in [
            "",
            "{tenant}",
            "x-{tenant}/",
            "{tenant}/{tenant}/",
            "/{tenant}/",
            "Reg/{tenant}/",
            "a//{tenant}/",
            "a{tenant}/",
        ] {
            assert!(ImagePrefix::parse(bad).is_err(), "{bad}");
        }
        let p = ImagePrefix::parse("reg.example.com:5000/team/{tenant}/").unwrap();
        assert_eq!(p.of(&alice()).unwrap(), "reg.example.com:5000/team/alice/");
        assert_eq!(p.holder("reg.example.com:5000/team/bob/app:1"), Some("bob"));
        assert_eq!(p.holder("reg.example.com:5000/team/bob"), None);
        assert_eq!(p.of(&Tenant::new("Alice").unwrap()), None);
        assert_eq!(p.of(&Tenant::new("a/b").unwrap()), None);
        // Behind a registry a dotted key is a path component; first, a registry domain.
        assert_eq!(
            p.of(&Tenant::new("ghcr.io").unwrap()).unwrap(),
            "reg.example.com:5000/team/ghcr.io/"
        );
        let first = ImagePrefix::parse("{tenant}/").unwrap();
        for domain in ["ghcr.io", "localhost", "a.b"] {
            assert_eq!(first.of(&Tenant::new(domain).unwrap()), None, "{domain}");
            assert_eq!(first.holder(&format!("{domain}/x/y:1")), None, "{domain}");
        }
        assert_eq!(first.of(&Tenant::new("a_b-c").unwrap()).unwrap(), "a_b-c/");
        let (out, _) = assess(
            Some(&first),
            false,
            &Tenant::new("ghcr.io").unwrap(),
            OpKind::ImageTag,
            Some("x"),
            &Query::parse("repo=ghcr.io/evil/app&tag=1").unwrap(),
            &facts(),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rule, "PC-1046");
        assert!(
            out[0].message.contains("registry domain"),
            "{}",
            out[0].message
        );
        let hub = ImagePrefix::parse("{tenant}/").unwrap();
        assert_eq!(hub.holder("docker.io/alice/app:1"), Some("alice"));
        assert_eq!(hub.holder("nginx:latest"), None);
        assert_eq!(repository("docker.io/library/nginx:1@sha256:x"), "nginx");
        assert_eq!(repository("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(
            tagged("localhost:5000/x").unwrap(),
            "localhost:5000/x:latest"
        );
    }
}

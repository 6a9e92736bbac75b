//! The `changes` of `docker commit` and `docker import` (`changes=` query values):
//! dockerd joins them with newlines into one Dockerfile and parses it (parser
//! directives, line continuations, quotes, variables, `ONBUILD`), keeping the
//! instructions of `validCommitCommands`. Only plain instructions are read here; what
//! could hide a `WORKDIR` from a line-by-line reading is reported as unreadable.

/// What a reading of the changes finds about working directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkdirChange<'a> {
    /// A plain absolute `WORKDIR` path (directly or after `ONBUILD`).
    Path(&'a str),
    /// Something a line-by-line reading cannot follow, and why.
    Unreadable(&'static str),
}

/// The working directories the joined `changes` set, or why they cannot be read. A
/// parser directive stops the reading (one item).
pub fn workdir_changes(joined: &str) -> Vec<WorkdirChange<'_>> {
    if joined.trim_start().starts_with('#') {
        return vec![WorkdirChange::Unreadable(
            "parser directives are not accepted",
        )];
    }
    let mut found = Vec::new();
    for line in joined.lines() {
        let t = line.trim_end();
        if t.ends_with('\\') || t.ends_with('`') {
            found.push(WorkdirChange::Unreadable(
                "line continuations are not accepted",
            ));
            return found;
        }
        // The instruction, after an ONBUILD (which runs it in a later build). Go
        // lowercases it with Unicode folding (a Kelvin sign is a k), so a keyword that
        // is not ASCII is refused rather than compared.
        let mut rest = t.trim_start();
        let mut keyword = rest.split_whitespace().next().unwrap_or("");
        if keyword.eq_ignore_ascii_case("onbuild") {
            rest = rest[keyword.len()..].trim_start();
            keyword = rest.split_whitespace().next().unwrap_or("");
        }
        if !keyword.is_ascii() {
            found.push(WorkdirChange::Unreadable(
                "instructions must be spelled in ASCII",
            ));
            continue;
        }
        if !keyword.eq_ignore_ascii_case("workdir") {
            continue;
        }
        let wd = rest[keyword.len()..].trim();
        let plain = !wd.is_empty()
            && wd.bytes().all(|b| {
                (0x20..0x7f).contains(&b) && !matches!(b, b'$' | b'\\' | b'`' | b'\'' | b'"')
            });
        if !plain || !wd.starts_with('/') {
            found.push(WorkdirChange::Unreadable(
                "WORKDIR takes a plain absolute path here",
            ));
            continue;
        }
        found.push(WorkdirChange::Path(wd));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::WorkdirChange::*;
    use super::*;

    #[test]
    fn workdirs_are_read_or_refused() {
        assert_eq!(workdir_changes("ENV A=b\nWORKDIR /srv"), [Path("/srv")]);
        assert_eq!(
            workdir_changes("onbuild  workdir /proc/self/fd/8"),
            [Path("/proc/self/fd/8")]
        );
        assert!(matches!(
            workdir_changes("# escape=`\nWORKDIR /x")[..],
            [Unreadable(_)]
        ));
        assert!(matches!(
            workdir_changes("WORKDIR /pro\\\nc")[..],
            [Unreadable(_)]
        ));
        assert!(matches!(
            workdir_changes("WOR\u{212A}DIR /proc")[..],
            [Unreadable(_)]
        ));
        for wd in ["WORKDIR $X", "WORKDIR rel", "WORKDIR \"/proc\""] {
            assert!(matches!(workdir_changes(wd)[..], [Unreadable(_)]), "{wd}");
        }
        assert!(workdir_changes("CMD [\"sh\"]").is_empty());
    }
}

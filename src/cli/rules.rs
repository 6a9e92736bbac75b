//! `portcullis rules`: the rule catalogue as a Markdown table (the README's rules table).

use std::process::ExitCode;

use crate::policy::rules::ALL;

pub fn run() -> ExitCode {
    println!("| id | blocks | why | setting | how to comply |\n|---|---|---|---|---|");
    for r in ALL {
        println!(
            "| {} | {} | {} | `{}` | {} |",
            r.id, r.blocks, r.why, r.setting, r.comply
        );
    }
    ExitCode::SUCCESS
}

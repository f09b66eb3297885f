//! Generates the statement catalogue from `src/spec/mqtt-*.tsv`: one named
//! constant per statement (so a citation with a typo does not compile) and
//! one static table per version.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut code = String::new();
    for (file, module, version) in
        [("src/spec/mqtt-3.1.1.tsv", "v3_1_1", "V3_1_1"), ("src/spec/mqtt-5.0.tsv", "v5", "V5")]
    {
        println!("cargo:rerun-if-changed={file}");
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {file}: {e}"));
        let mut consts = String::new();
        let mut table = String::new();
        for (n, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            assert!(fields.len() == 5, "{file}:{}: expected 5 fields, got {}", n + 1, fields.len());
            let [id, actor, level, section, summary] = [fields[0], fields[1], fields[2], fields[3], fields[4]];
            let actor = match actor {
                "server" => "Server",
                "client" => "Client",
                "both" => "Both",
                other => panic!("{file}:{}: bad actor {other:?}", n + 1),
            };
            let level = match level {
                "MUST" => "Must",
                "MUST NOT" => "MustNot",
                "SHOULD" => "Should",
                "SHOULD NOT" => "ShouldNot",
                "MAY" => "May",
                other => panic!("{file}:{}: bad level {other:?}", n + 1),
            };
            let ident = id.replace(['-', '.'], "_");
            writeln!(
                consts,
                "    /// {summary}\n    pub const {ident}: StatementId = StatementId {{ version: Version::{version}, id: {id:?} }};"
            )
            .unwrap();
            writeln!(
                table,
                "    Statement {{ id: {module}::{ident}, actor: Actor::{actor}, level: Level::{level}, section: {section:?}, summary: {summary:?} }},"
            )
            .unwrap();
        }
        writeln!(
            code,
            "/// Named constants for every MQTT {ver} statement, for citations.\npub mod {module} {{\n    use super::{{StatementId, Version}};\n{consts}}}\n\nstatic {upper}_TABLE: &[Statement] = &[\n{table}];\n",
            ver = if version == "V5" { "5.0" } else { "3.1.1" },
            upper = module.to_uppercase(),
        )
        .unwrap();
    }
    std::fs::write(Path::new(&out_dir).join("catalogue.rs"), code).unwrap();
}

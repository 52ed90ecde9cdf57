//! `make flink-keys`: regenerates the lists of configuration keys each supported Flink defines
//! (`core/src/flink/keys/flink-<major>.<minor>.txt`, what `zkha flink config push
//! --flink-version` warns against). For each version given (default: every supported one) it
//! fetches Flink's `lib/` jars into the cache if missing and runs
//! `scripts/FlinkConfigKeys.java` on them with the test kit's `java`. Prints one line per list:
//! the version, the number of keys, and how many were added and removed since the file it
//! replaces.

use std::collections::BTreeSet;
use std::fs;
use std::process::{Command, ExitCode, Stdio};

use zkha_flink_e2e::dist::{self, SUPPORTED_FLINK_VERSIONS};

fn main() -> ExitCode {
    let asked: Vec<String> = std::env::args().skip(1).collect();
    let versions: Vec<String> = if asked.is_empty() {
        SUPPORTED_FLINK_VERSIONS
            .iter()
            .map(|v| v.to_string())
            .collect()
    } else {
        asked
    };
    for v in &versions {
        if let Err(e) = one(v) {
            eprintln!("zkha-flink-keys: Flink {v}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Writes the list of Flink `version` (`2.2.1` -> `flink-2.2.txt`).
fn one(version: &str) -> Result<(), String> {
    let minor: Vec<&str> = version.split('.').take(2).collect();
    if minor.len() != 2 || minor.iter().any(|p| p.parse::<u32>().is_err()) {
        return Err(format!("{version:?} is not a Flink version such as 2.2.1"));
    }
    let lib = dist::flink_lib(version, &dist::stderr).map_err(|e| e.to_string())?;
    let java = zkha_testkit::install::find_java().map_err(|e| e.to_string())?;
    let root = dist::repo_root();
    let out = Command::new(&java)
        .arg(root.join("scripts/FlinkConfigKeys.java"))
        .arg(&lib)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", java.display()))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/FlinkConfigKeys.java failed: {}",
            out.status
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|_| "the key list is not UTF-8")?;
    let keys: BTreeSet<&str> = text.lines().collect();
    if keys.len() < 500 {
        return Err(format!(
            "only {} keys found in {}: not a Flink lib/ directory?",
            keys.len(),
            lib.display()
        ));
    }
    let file = root.join(format!(
        "core/src/flink/keys/flink-{}.{}.txt",
        minor[0], minor[1]
    ));
    let old = fs::read_to_string(&file).unwrap_or_default();
    let before: BTreeSet<&str> = old.lines().collect();
    fs::write(&file, &text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    println!(
        "Flink {version}: {} keys in {} (+{} -{})",
        keys.len(),
        file.strip_prefix(&root).unwrap_or(&file).display(),
        keys.difference(&before).count(),
        before.difference(&keys).count()
    );
    Ok(())
}

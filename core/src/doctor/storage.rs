//! `high-availability.storageDir` and every pointer's file. Local paths are checked here;
//! other file systems (s3://, hdfs://, gs://, ...) through Flink's own `FileSystem`, with the
//! cluster's `lib/`, `plugins/` and configuration, by the plugin jar's `StorageDoctor` in a
//! `java` child process — the JobManager's view, plugins and credentials included.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::{Check, DoctorOptions, Status};
use crate::flink::{ClusterView, FlinkConfig};
use crate::Client;

/// The Java entry point in the plugin jar.
const STORAGE_DOCTOR: &str = "io.zkha.flink.StorageDoctor";

/// How long the Java side may take (Flink's file systems retry unreachable stores).
const JAVA_LIMIT: Duration = Duration::from_secs(90);

/// A local path for a `file:` URI or a bare path; `None` for other schemes.
pub(super) fn local_path(uri: &str) -> Option<PathBuf> {
    if let Some(rest) = uri.strip_prefix("file://") {
        // file:///a/b or file://host/a/b (the host is ignored, as Flink does for local files)
        let path = if rest.starts_with('/') {
            rest
        } else {
            rest.find('/').map(|i| &rest[i..])?
        };
        return Some(path.into());
    }
    if let Some(rest) = uri.strip_prefix("file:") {
        return Some(rest.into());
    }
    if uri.starts_with('/') {
        return Some(uri.into());
    }
    None
}

/// One answer of `StorageDoctor`.
#[derive(Debug, Clone, Deserialize)]
struct Answer {
    check: String,
    uri: String,
    answered: bool,
    yes: bool,
    error: Option<String>,
}

/// A Flink installation to ask, and how.
#[derive(Debug, Clone)]
struct FlinkFs {
    java: PathBuf,
    classpath: String,
    plugins: PathBuf,
    conf_dir: PathBuf,
}

/// The Flink installation for the checks: `DoctorOptions::flink_home`, else `FLINK_HOME`, else
/// the directory above a `conf/` holding the configuration; it needs `lib/` and the zkha jar
/// (in `lib/` or `plugins/*/`).
fn flink_fs(o: &DoctorOptions, f: &FlinkConfig) -> Result<FlinkFs, String> {
    let conf_dir = Path::new(f.source())
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let home = o
        .flink_home
        .clone()
        .or_else(|| std::env::var_os("FLINK_HOME").map(PathBuf::from))
        .or_else(|| {
            let up = conf_dir.canonicalize().ok()?.parent()?.to_path_buf();
            up.join("lib").is_dir().then_some(up)
        })
        .ok_or("no Flink installation: give --flink-home (or set FLINK_HOME)")?;
    let lib = home.join("lib");
    if !lib.is_dir() {
        return Err(format!("{}: no lib/ directory", home.display()));
    }
    let plugins = home.join("plugins");
    let mut dirs = vec![lib.clone()];
    if let Ok(entries) = std::fs::read_dir(&plugins) {
        dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let jar = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("zkha-flink") && n.ends_with(".jar") && !n.contains("loader")
            })
        })
        .ok_or_else(|| format!("no zkha-flink jar in {} or its plugins/", lib.display()))?;
    let java = match std::env::var_os("JAVA_HOME") {
        Some(h) => PathBuf::from(h).join("bin/java"),
        None => PathBuf::from("java"),
    };
    Ok(FlinkFs {
        java,
        classpath: format!("{}/*:{}", lib.display(), jar.display()),
        plugins,
        conf_dir,
    })
}

/// Asks Flink's file systems: is `writable` a directory that takes a file, does each of
/// `uris` exist. Every answer by URI (`writable`'s under the key `"writable:" + uri`).
fn ask_flink(
    fs: &FlinkFs,
    writable: Option<&str>,
    uris: &[String],
) -> Result<BTreeMap<String, Answer>, String> {
    let mut cmd = Command::new(&fs.java);
    cmd.arg("-cp")
        .arg(&fs.classpath)
        .arg("-Dlog4j2.level=OFF")
        .arg(STORAGE_DOCTOR)
        .arg("--conf-dir")
        .arg(&fs.conf_dir)
        .env("FLINK_PLUGINS_DIR", &fs.plugins)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(w) = writable {
        cmd.arg("--writable").arg(w);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", fs.java.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let list: String = uris.iter().map(|u| format!("{u}\n")).collect();
        let _ = stdin.write_all(list.as_bytes());
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > JAVA_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "Flink's file systems gave no answer within {JAVA_LIMIT:?}"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for {STORAGE_DOCTOR}: {e}")),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("reading {STORAGE_DOCTOR}'s answers: {e}"))?;
    let mut answers = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Ok(a) = serde_json::from_str::<Answer>(line) {
            let key = match a.check.as_str() {
                "writable" => format!("writable:{}", a.uri),
                "init" => "init".to_string(),
                _ => a.uri.clone(),
            };
            answers.insert(key, a);
        }
    }
    if !out.status.success() || answers.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!(
            "{STORAGE_DOCTOR} ended with {}{}",
            out.status,
            last.map(|l| format!(": {l}")).unwrap_or_default()
        ));
    }
    Ok(answers)
}

/// The storage and pointer checks; `jobs` as listed in ZooKeeper.
pub(super) async fn checks(
    o: &DoctorOptions,
    f: &FlinkConfig,
    client: &Client,
    view: &ClusterView,
    jobs: &crate::Result<Vec<String>>,
) -> Vec<Check> {
    let dir = f.storage_dir();
    let (jobs, pointers, errors) = collect_pointers(view, jobs).await;
    // What goes to Flink: every URI not on the local file system (all of them with
    // `via_flink`).
    let remote = |uri: &str| o.via_flink || local_path(uri).is_none();
    let writable = dir.as_ref().ok().filter(|d| remote(d)).cloned();
    let uris: Vec<String> = pointers
        .iter()
        .map(|p| p.uri.clone())
        .filter(|u| remote(u))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let flink = if writable.is_some() || !uris.is_empty() {
        let fs = flink_fs(o, f);
        Some(match fs {
            Ok(fs) => {
                let w = writable.clone();
                let u = uris.clone();
                tokio::task::spawn_blocking(move || ask_flink(&fs, w.as_deref(), &u))
                    .await
                    .unwrap_or_else(|e| Err(format!("{STORAGE_DOCTOR}: {e}")))
            }
            Err(e) => Err(e),
        })
    } else {
        None
    };
    vec![
        // Flink's answers for the storageDir when it went to Flink.
        storage(&dir, writable.and(flink.as_ref())),
        pointer_check(client, jobs, &pointers, errors, &remote, flink.as_ref()).await,
    ]
}

type Asked = Result<BTreeMap<String, Answer>, String>;

/// `high-availability.storageDir` exists and takes a file: Flink's answer if it was asked
/// (`flink`), else checked here on the local file system.
fn storage(dir: &crate::Result<String>, flink: Option<&Asked>) -> Check {
    let dir = match dir {
        Ok(d) => d,
        Err(e) => {
            return Check::new("storage", Status::Fail, e.to_string()).fix(
                "set high-availability.storageDir (where Flink writes job graphs and \
                 checkpoint metadata)",
            )
        }
    };
    if let Some(asked) = flink {
        let answer = match asked {
            Ok(answers) => answers
                .get(&format!("writable:{dir}"))
                .or_else(|| answers.get("init")),
            Err(e) => {
                return Check::new(
                    "storage",
                    Status::Skipped,
                    format!("{dir}: not checked through Flink's file systems: {e}"),
                )
                .fix(
                    "run the doctor on a JobManager host with --flink-home (its lib/ and \
                     plugins/, and the zkha jar) and java on PATH or JAVA_HOME",
                )
            }
        };
        return match answer {
            Some(a) if a.answered && a.yes => Check::new(
                "storage",
                Status::Ok,
                format!(
                    "high-availability.storageDir {dir} exists and is writable (through \
                     Flink's file systems)"
                ),
            ),
            Some(a) => Check::new(
                "storage",
                Status::Fail,
                format!(
                    "high-availability.storageDir {dir}: {}",
                    a.error.as_deref().unwrap_or("not writable")
                ),
            )
            .fix(
                "Flink's JobManagers cannot write there either: install the file system's \
                 plugin (plugins/<name>/, one folder each), give the credentials in the \
                 Flink configuration, create the directory, or point \
                 high-availability.storageDir at one they can write",
            ),
            None => Check::new(
                "storage",
                Status::Skipped,
                format!("{dir}: Flink's file systems gave no answer"),
            ),
        };
    }
    let Some(path) = local_path(dir) else {
        return Check::new(
            "storage",
            Status::Skipped,
            format!("{dir}: not a local file system"),
        );
    };
    if !path.is_dir() {
        return Check::new(
            "storage",
            Status::Fail,
            format!(
                "high-availability.storageDir {dir}: {} does not exist",
                path.display()
            ),
        )
        .fix(format!(
            "create {} (shared by every JobManager) or point high-availability.storageDir at \
             the shared directory: without it no job graph or checkpoint is stored",
            path.display()
        ));
    }
    let probe = path.join(format!(".zkha-doctor-{}", uuid::Uuid::new_v4().simple()));
    match std::fs::write(&probe, b"zkha doctor") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Check::new(
                "storage",
                Status::Ok,
                format!("high-availability.storageDir {dir} exists and is writable"),
            )
        }
        Err(e) => Check::new(
            "storage",
            Status::Fail,
            format!("high-availability.storageDir {dir}: cannot write: {e}"),
        )
        .fix("the JobManagers' user needs write access to it"),
    }
}

/// A pointer in ZooKeeper to a file in the storage.
struct Pointer {
    /// What it is (`job <id>'s checkpoint 3 (<znode>)`).
    what: String,
    /// The file's URI.
    uri: String,
    /// The pointer's znode.
    znode: String,
}

/// How many jobs, every pointer of `jobs`, and what could not be read.
async fn collect_pointers(
    view: &ClusterView,
    jobs: &crate::Result<Vec<String>>,
) -> (usize, Vec<Pointer>, Vec<String>) {
    let mut errors = Vec::new();
    let jobs = match jobs {
        Ok(j) => j,
        Err(e) => return (0, Vec::new(), vec![format!("cannot list jobs: {e}")]),
    };
    let mut pointers = Vec::new();
    for job in jobs {
        match view.execution_plan_at(job).await {
            Ok(Some((znode, Some(uri)))) => pointers.push(Pointer {
                what: format!("job {job}'s execution plan"),
                uri,
                znode,
            }),
            Ok(_) => {}
            Err(e) => errors.push(format!("job {job}: execution plan: {e}")),
        }
    }
    for job in jobs {
        match view.checkpoints(job).await {
            Ok(cps) => pointers.extend(cps.into_iter().filter_map(|c| {
                Some(Pointer {
                    what: format!("job {job}'s checkpoint {} ({})", c.id, c.znode),
                    uri: c.location?,
                    znode: c.znode,
                })
            })),
            Err(e) => errors.push(format!("job {job}: checkpoints: {e}")),
        }
    }
    (jobs.len(), pointers, errors)
}

/// Whether each pointer's file exists (`None`: not checked), and the errors met.
fn look_up(
    pointers: &[Pointer],
    remote: &(dyn Fn(&str) -> bool + Sync),
    flink: Option<&Asked>,
    errors: &mut Vec<String>,
    unchecked: &mut BTreeSet<String>,
) -> Vec<Option<bool>> {
    pointers
        .iter()
        .map(|p| {
            if !remote(&p.uri) {
                return local_path(&p.uri).map(|f| f.exists());
            }
            match flink {
                Some(Ok(answers)) => match answers.get(&p.uri) {
                    Some(a) if a.answered => Some(a.yes),
                    Some(a) => {
                        errors.push(format!(
                            "{}: {}: {}",
                            p.what,
                            p.uri,
                            a.error.as_deref().unwrap_or("no answer")
                        ));
                        None
                    }
                    None => {
                        errors.push(format!("{}: {}: no answer", p.what, p.uri));
                        None
                    }
                },
                _ => {
                    unchecked.insert(p.uri.split("://").next().unwrap_or("?").to_string());
                    None
                }
            }
        })
        .collect()
}

/// Every checkpoint and execution-plan pointer's file is there. A pointer whose file is
/// missing counts as dangling only if it is still in ZooKeeper afterwards: a running job
/// subsumes checkpoints (pointer, then file) while the doctor looks.
async fn pointer_check(
    client: &Client,
    jobs: usize,
    pointers: &[Pointer],
    mut errors: Vec<String>,
    remote: &(dyn Fn(&str) -> bool + Sync),
    flink: Option<&Asked>,
) -> Check {
    let mut unchecked = BTreeSet::new();
    let found = look_up(pointers, remote, flink, &mut errors, &mut unchecked);
    let checked = found.iter().flatten().count();
    let mut dangling = Vec::new();
    let mut subsumed = 0;
    for (p, exists) in pointers.iter().zip(&found) {
        if *exists != Some(false) {
            continue;
        }
        match client.exists(&p.znode).await {
            Ok(None) => subsumed += 1,
            Ok(Some(_)) => dangling.push(format!("{}: {}", p.what, p.uri)),
            Err(e) => errors.push(format!("{}: {e}", p.znode)),
        }
    }
    let mut summary = format!("{jobs} job(s); {checked} pointer file(s) checked");
    if subsumed > 0 {
        summary.push_str(&format!(
            " ({subsumed} removed with its pointer meanwhile: subsumed)"
        ));
    }
    if !unchecked.is_empty() {
        summary.push_str(&format!(
            ", others on {} not checked ({})",
            unchecked.into_iter().collect::<Vec<_>>().join(", "),
            match flink {
                Some(Err(e)) => e.clone(),
                _ => "no Flink installation to ask".to_string(),
            }
        ));
    }
    if !dangling.is_empty() || !errors.is_empty() {
        let mut all = dangling.clone();
        all.extend(errors);
        return Check::new("pointers", Status::Fail, summary)
            .fix(format!(
                "dangling or unreadable: {}. Flink cannot recover a job from a pointer whose \
                 file is gone: restore the file, or cancel the job and resubmit it from a \
                 retained checkpoint or savepoint",
                all.join("; ")
            ))
            .details(json!({ "dangling": dangling }));
    }
    Check::new("pointers", Status::Ok, summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_of_uris() {
        assert_eq!(local_path("file:///a/b"), Some("/a/b".into()));
        assert_eq!(local_path("file://host/a/b"), Some("/a/b".into()));
        assert_eq!(local_path("/a/b"), Some("/a/b".into()));
        assert_eq!(local_path("s3://bucket/a"), None);
    }
}

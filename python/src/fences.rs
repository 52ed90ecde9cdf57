//! The native `Fence`: fenced put, delete and multi; node stats.

use super::*;

/// (czxid, mzxid, version, cversion, ephemeral_owner, num_children, data_length)
pub(crate) type StatTuple = (i64, i64, i32, i32, i64, i32, i32);

pub(crate) fn stat_tuple(s: &NodeStat) -> StatTuple {
    (
        s.czxid,
        s.mzxid,
        s.version,
        s.cversion,
        s.ephemeral_owner,
        s.num_children,
        s.data_length,
    )
}

/// One operation of a multi: (kind, path, data, mode, version), kind "create", "set",
/// "delete" or "check"; mode a node mode name (create only).
pub(crate) type OpTuple = (String, String, Option<Vec<u8>>, Option<String>, Option<i32>);

pub(crate) fn op_of((kind, path, data, mode, version): OpTuple) -> zkha::Result<Op> {
    let data = data.unwrap_or_default();
    Ok(match kind.as_str() {
        "create" => Op::Create {
            path,
            data,
            mode: NodeMode::parse_name(mode.as_deref().unwrap_or("persistent"))?,
        },
        "set" => Op::SetData {
            path,
            data,
            version,
        },
        "delete" => Op::Delete { path, version },
        "check" => Op::Check { path, version },
        other => {
            return Err(invalid(format!(
                "unknown operation {other:?} (create, set, delete, check)"
            )))
        }
    })
}

/// (kind, created path, stat tuple) of one result: "created", "set", "deleted" or "checked".
pub(crate) fn result_tuple(r: OpResult) -> (&'static str, Option<String>, Option<StatTuple>) {
    match r {
        OpResult::Created { path, stat } => ("created", Some(path), Some(stat_tuple(&stat))),
        OpResult::SetData { stat } => ("set", None, Some(stat_tuple(&stat))),
        OpResult::Deleted => ("deleted", None, None),
        OpResult::Checked => ("checked", None, None),
    }
}

/// Proof of a grant (an election's or a lock's): writes through it succeed only while the
/// grant holds.
#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct Fence {
    pub(crate) inner: zkha::Fence,
}

py_methods! {
    impl Fence {
        async(self, py, f = inner) {
            /// Creates or overwrites `path` with `data`, fenced; the stat tuple.
            fn put(path: String, data: Vec<u8>) async {
                Ok(stat_tuple(&f.put(&path, &data).await?))
            }
            /// Deletes `path` if its version is `version` (None: any), fenced.
            fn delete(path: String, version: Option<i32> = None) async {
                f.delete(&path, version).await
            }
            /// Runs operation tuples atomically behind the fence check; their result tuples.
            fn multi(ops: Vec<OpTuple>) {
                let ops = ops
                    .into_iter()
                    .map(op_of)
                    .collect::<zkha::Result<Vec<_>>>()
                    .map_err(|e| to_py_err(py, e))?;
            } async {
                let results = f.multi(ops).await?;
                Ok(results.into_iter().map(result_tuple).collect::<Vec<_>>())
            }
        }

        #[getter]
        fn token(&self) -> i64 {
            self.inner.token()
        }

        #[getter]
        fn node(&self) -> String {
            self.inner.node().to_string()
        }

        #[getter]
        fn session_id(&self) -> i64 {
            self.inner.session_id()
        }
    }
}

//! Flink's pointer bytes in `jobs/<id>/checkpoints/<n>` and `execution-plans/<id>`: a
//! Java-serialized `RetrievableStreamStateHandle` wrapping the stream state handle that points
//! at the real file under `high-availability.storageDir` (a `FileStateHandle(filePath,
//! stateSize)` for every file system Flink ships). Read-only: zkha's writers store the bytes
//! Flink's classes produced, it never builds them.

use jaded::{Parser, PrimitiveType, Value};

use crate::error::{Error, ErrorKind, Result};

/// The class Flink's ZooKeeper state handle stores write.
pub const RETRIEVABLE: &str = "org.apache.flink.runtime.state.RetrievableStreamStateHandle";
/// The wrapped handle of a file under the HA storage directory.
pub const FILE_STATE_HANDLE: &str = "org.apache.flink.runtime.state.filesystem.FileStateHandle";

/// A decoded pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateHandlePointer {
    /// The wrapped handle's Java class (normally [`FILE_STATE_HANDLE`]).
    pub handle_class: String,
    /// The file's URI as Flink wrote it (`file:/...`, `s3://...`), if the handle is a file.
    pub file_path: Option<String>,
    /// The stored state's size in bytes, if the handle records it.
    pub state_size: Option<i64>,
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!("not a Flink state handle pointer: {what}"),
    )
}

/// Decodes the bytes of a checkpoint or execution-plan znode.
pub fn decode(bytes: &[u8]) -> Result<StateHandlePointer> {
    let mut parser = Parser::new(bytes).map_err(|e| corrupt(format!("{e:?}")))?;
    let content = parser.read().map_err(|e| corrupt(format!("{e:?}")))?;
    let outer = content
        .value()
        .and_then(Value::object_data)
        .ok_or_else(|| corrupt("no serialized object"))?;
    if outer.class_name() != RETRIEVABLE {
        return Err(corrupt(format!(
            "class {} where {RETRIEVABLE} was expected",
            outer.class_name()
        )));
    }
    let inner = outer
        .get_field("wrappedStreamStateHandle")
        .and_then(Value::object_data)
        .ok_or_else(|| corrupt("no wrappedStreamStateHandle"))?;
    let state_size = match inner.get_field("stateSize").and_then(Value::primitive) {
        Some(PrimitiveType::Long(n)) => Some(*n),
        _ => None,
    };
    // filePath is an org.apache.flink.core.fs.Path { uri: java.net.URI { string } }.
    let file_path = inner
        .get_field("filePath")
        .and_then(Value::object_data)
        .and_then(|p| p.get_field("uri"))
        .and_then(Value::object_data)
        .and_then(|u| u.get_field("string"))
        .and_then(Value::string)
        .map(str::to_string);
    if inner.class_name() == FILE_STATE_HANDLE && file_path.is_none() {
        return Err(corrupt("FileStateHandle without a filePath"));
    }
    Ok(StateHandlePointer {
        handle_class: inner.class_name().to_string(),
        file_path,
        state_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKPOINT: &[u8] = include_bytes!(
        "../../tests/fixtures/flink_e2e_jobs_689f4a2104595f78f8552e76fa3f059d_checkpoints_0000000000000000003.bin"
    );
    const PLAN: &[u8] = include_bytes!(
        "../../tests/fixtures/flink_e2e_execution-plans_689f4a2104595f78f8552e76fa3f059d.bin"
    );

    #[test]
    fn decodes_a_checkpoint_pointer_written_by_flink() {
        let p = decode(CHECKPOINT).unwrap();
        assert_eq!(p.handle_class, FILE_STATE_HANDLE);
        assert_eq!(
            p.file_path.as_deref(),
            Some("file:/opt/flink-demo/ha/e2e/completedCheckpoint76442a50ab4b")
        );
        assert_eq!(p.state_size, Some(0x1719));
    }

    #[test]
    fn decodes_an_execution_plan_pointer_written_by_flink() {
        let p = decode(PLAN).unwrap();
        assert_eq!(p.handle_class, FILE_STATE_HANDLE);
        let path = p.file_path.unwrap();
        assert!(path.starts_with("file:/opt/flink-demo/ha/e2e/submittedExecutionPlan"));
        assert!(p.state_size.unwrap() > 0);
    }

    #[test]
    fn rejects_other_bytes() {
        for bad in [
            &b""[..],
            b"\x00\x00\x00\x03",
            &CHECKPOINT[..CHECKPOINT.len() / 2],
        ] {
            let e = decode(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt);
            assert!(e.message().contains("not a Flink state handle pointer"));
        }
    }
}

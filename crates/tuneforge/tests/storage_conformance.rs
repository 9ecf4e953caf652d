//! Every storage backend passes the same conformance suite.

use std::sync::Arc;
use tuneforge::storage::{MemoryStorage, SqliteStorage, Storage};

#[test]
fn memory_storage_conforms() {
    tuneforge::testing::storage_conformance(&|| Arc::new(MemoryStorage::new()) as Arc<dyn Storage>);
}

#[test]
fn sqlite_storage_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    tuneforge::testing::storage_conformance(&|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Arc::new(SqliteStorage::open(&dir.path().join(format!("s{n}.db"))).unwrap())
            as Arc<dyn Storage>
    });
}

#[test]
fn sqlite_refuses_a_newer_schema_and_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    drop(SqliteStorage::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE tuneforge_meta SET value = '99' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let e = SqliteStorage::open(&path).err().unwrap().to_string();
    assert!(e.contains("schema version 99 is newer"), "{e}");
    let e = SqliteStorage::open(&dir.path().join("nope/x.db"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn sqlite_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.db");
    {
        let s = SqliteStorage::open(&path).unwrap();
        let st = s
            .create_study("k", &[tuneforge::Direction::Minimize], &Default::default())
            .unwrap();
        let t = s.create_trial(st.id, Default::default()).unwrap().unwrap();
        s.finish(t.id, tuneforge::TrialState::Complete, Some(&[1.5]), None)
            .unwrap();
    }
    let s = SqliteStorage::open(&path).unwrap();
    let st = s.load_study("k").unwrap();
    let trials = s.all_trials(st.id).unwrap();
    assert_eq!(trials.len(), 1);
    assert_eq!(trials[0].values, Some(vec![1.5]));
}

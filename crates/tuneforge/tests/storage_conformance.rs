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

#[test]
fn sqlite_handles_on_one_file_conform() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    tuneforge::testing::shared_handles_conformance(&|| {
        Arc::new(SqliteStorage::open(&path).unwrap()) as Arc<dyn Storage>
    });
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use std::time::{Duration, Instant};
    use tuneforge::storage::PostgresStorage;
    use tuneforge::testing::postgres::{PgServer, fresh_database};
    use tuneforge::{Direction, Error, TrialState};

    #[test]
    fn postgres_storage_conforms() {
        if fresh_database().is_none() {
            return;
        }
        tuneforge::testing::storage_conformance(&|| {
            let url = fresh_database().unwrap();
            Arc::new(PostgresStorage::open(&url).unwrap()) as Arc<dyn Storage>
        });
    }

    #[test]
    fn postgres_connections_on_one_database_conform() {
        let Some(url) = fresh_database() else { return };
        tuneforge::testing::shared_handles_conformance(&|| {
            Arc::new(PostgresStorage::open(&url).unwrap()) as Arc<dyn Storage>
        });
    }

    #[test]
    fn postgres_refuses_a_newer_schema() {
        let Some(url) = fresh_database() else { return };
        drop(PostgresStorage::open(&url).unwrap());
        let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        c.batch_execute("UPDATE tuneforge_meta SET value = '99' WHERE key = 'schema_version'")
            .unwrap();
        let e = PostgresStorage::open(&url).err().unwrap().to_string();
        assert!(e.contains("schema version 99 is newer"), "{e}");
    }

    #[test]
    fn postgres_errors_name_the_server_without_the_password() {
        if fresh_database().is_none() {
            return;
        }
        // Nothing listens on port 1; no retries, so the error comes at once.
        let e = PostgresStorage::open_with_retry(
            "postgres://someone:hunter2@127.0.0.1:1/db",
            Duration::ZERO,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("127.0.0.1:1") && !e.contains("hunter2"), "{e}");
        let e = PostgresStorage::open("postgres://u@h:notaport/db")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not a valid PostgreSQL URL"), "{e}");
    }

    /// A server that restarts (connections cut) and one that is down for a while: calls wait
    /// and reconnect; past the retry budget they fail with a clear error; nothing recorded is
    /// lost either way.
    #[test]
    fn postgres_survives_restarts_and_outages() {
        if fresh_database().is_none() {
            return;
        }
        let server = match PgServer::start() {
            Ok(s) => s,
            Err(e) => panic!("could not start a private test server: {e}"),
        };
        let url = server.create_database().unwrap();
        let s = PostgresStorage::open_with_retry(&url, Duration::from_secs(30)).unwrap();
        let st = s
            .create_study("r", &[Direction::Minimize], &Default::default())
            .unwrap();
        let a = s.create_trial(st.id, Default::default()).unwrap().unwrap();
        s.finish(a.id, TrialState::Complete, Some(&[1.0]), None)
            .unwrap();

        server.restart().unwrap();
        let b = s.create_trial(st.id, Default::default()).unwrap().unwrap();
        assert_eq!(b.number, 1);

        // Down for ~2 s while a call is made: it waits and succeeds once the server is back.
        server.stop().unwrap();
        let started = Instant::now();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_secs(2));
                server.resume().unwrap();
            });
            s.finish(b.id, TrialState::Complete, Some(&[2.0]), None)
                .unwrap();
        });
        assert!(started.elapsed() >= Duration::from_secs(1));

        // Down longer than the budget: a clear error, then everything is still there.
        let short = PostgresStorage::open_with_retry(&url, Duration::from_secs(1)).unwrap();
        server.stop().unwrap();
        let e = short.create_trial(st.id, Default::default()).err().unwrap();
        assert!(
            matches!(&e, Error::Storage(m) if m.contains("gave up after retrying")),
            "{e}"
        );
        server.resume().unwrap();
        let trials = s.all_trials(st.id).unwrap();
        assert_eq!(trials.len(), 2);
        assert_eq!(trials[0].values, Some(vec![1.0]));
        assert_eq!(trials[1].values, Some(vec![2.0]));
    }
}

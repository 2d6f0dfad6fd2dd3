//! The embedded migration list matches `schemas/clickhouse/`.

use schemas::migrations::MIGRATIONS;

#[test]
fn embedded_migrations_match_the_folder_in_order() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/clickhouse");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    on_disk.sort();
    let embedded: Vec<&str> = MIGRATIONS.iter().map(|m| m.file_name).collect();
    assert_eq!(on_disk, embedded, "every .sql file is listed, in order");
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version as usize, i + 1, "versions are 1, 2, 3, ...");
        assert!(m.file_name.starts_with(&format!("{:04}_", m.version)));
        let text = std::fs::read_to_string(format!("{dir}/{}", m.file_name)).unwrap();
        assert_eq!(text, m.sql);
        assert!(!m.statements().is_empty());
        for stmt in m.statements() {
            // `ADD COLUMN` has no IF NOT EXISTS on ClickHouse 18.16: the
            // runner treats "already exists" of one as done.
            let upper = stmt.to_ascii_uppercase();
            let add_column = upper.starts_with("ALTER TABLE") && upper.contains(" ADD COLUMN ");
            // A rebuild the runner does itself, resumable.
            let repartition = upper.starts_with("REPARTITION TABLE ");
            assert!(
                stmt.contains("IF NOT EXISTS")
                    || stmt.contains("IF EXISTS")
                    || add_column
                    || repartition,
                "{}: every statement is idempotent: {stmt}",
                m.file_name
            );
        }
    }
}

#[test]
fn statements_split_at_line_ends_and_skip_comments() {
    let m = schemas::migrations::Migration {
        version: 9,
        file_name: "0009_x.sql",
        sql: "-- a comment; with a semicolon\nCREATE TABLE IF NOT EXISTS a (x UInt8)\nENGINE = Memory;\n\nCREATE TABLE IF NOT EXISTS b (y String DEFAULT 'a;b') ENGINE = Memory;\n",
    };
    assert_eq!(
        m.statements(),
        [
            "CREATE TABLE IF NOT EXISTS a (x UInt8)\nENGINE = Memory",
            "CREATE TABLE IF NOT EXISTS b (y String DEFAULT 'a;b') ENGINE = Memory",
        ]
    );
    assert_eq!(m.checksum().len(), 64);
}

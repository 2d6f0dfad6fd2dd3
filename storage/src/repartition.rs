//! `REPARTITION TABLE t <engine clause>` in a migration file: rebuild a
//! table with another engine clause (ClickHouse 18.16 cannot change a
//! table's partition key in place).
//!
//! Steps, each idempotent, so a run that died anywhere resumes:
//! 1. `t__rebuilt` (empty) is created with the new clause and the columns
//!    of `t`; the rows of `t` are copied into it;
//! 2. `t` becomes `t__before_rebuild` and `t__rebuilt` becomes `t` (one
//!    RENAME; the materialized views that write into `t` follow the name);
//! 3. `t__before_rebuild` is dropped.
//!
//! Nothing may write into `t` meanwhile: migrations run before a processor
//! consumes, and an upgrade stops the older processors first (README,
//! "Upgrading").

use clickhouse::Client;
use serde::Deserialize;

/// A `REPARTITION TABLE` statement: the table and its new engine clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repartition<'a> {
    pub table: &'a str,
    pub engine_clause: &'a str,
}

impl<'a> Repartition<'a> {
    /// `None` if `statement` is not a `REPARTITION TABLE`.
    pub fn parse(statement: &'a str) -> Option<Self> {
        let rest = statement.trim();
        let head = rest.get(..17)?;
        if !head.eq_ignore_ascii_case("REPARTITION TABLE") {
            return None;
        }
        let rest = rest.get(17..)?.trim_start();
        let (table, clause) = rest.split_once(char::is_whitespace)?;
        let clause = clause.trim();
        let valid = !table.is_empty()
            && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && clause.to_ascii_uppercase().starts_with("ENGINE");
        valid.then_some(Repartition {
            table,
            engine_clause: clause,
        })
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct TableInfo {
    name: String,
    partition_key: String,
}

async fn tables(client: &Client) -> Result<Vec<TableInfo>, clickhouse::error::Error> {
    client
        .query(
            "SELECT name, partition_key FROM system.tables \
             WHERE database = currentDatabase()",
        )
        .fetch_all()
        .await
}

async fn exec(client: &Client, sql: &str) -> Result<(), clickhouse::error::Error> {
    tracing::debug!(sql, "rebuild step");
    client.query(sql).execute().await
}

/// Rebuild `r.table` with its new engine clause unless it has a partition
/// key already. Returns whether it rebuilt.
pub async fn run(client: &Client, r: &Repartition<'_>) -> Result<bool, clickhouse::error::Error> {
    let t = r.table;
    let rebuilt = format!("{t}__rebuilt");
    let before = format!("{t}__before_rebuild");
    let list = tables(client).await?;
    let find = |name: &str| list.iter().find(|i| i.name == name);
    if find(t).is_none() && find(&rebuilt).is_some() {
        // Died between the two halves of the rename.
        exec(client, &format!("RENAME TABLE `{rebuilt}` TO `{t}`")).await?;
        exec(client, &format!("DROP TABLE IF EXISTS `{before}`")).await?;
        return Ok(true);
    }
    if find(t).is_some_and(|i| !i.partition_key.is_empty()) {
        // Done (perhaps all but the clean-up).
        exec(client, &format!("DROP TABLE IF EXISTS `{before}`")).await?;
        exec(client, &format!("DROP TABLE IF EXISTS `{rebuilt}`")).await?;
        return Ok(false);
    }
    tracing::info!(
        table = t,
        "rebuilding with a new partition key (one time, copies the table)"
    );
    exec(client, &format!("DROP TABLE IF EXISTS `{rebuilt}`")).await?;
    exec(
        client,
        &format!("CREATE TABLE `{rebuilt}` AS `{t}` {}", r.engine_clause),
    )
    .await?;
    exec(
        client,
        &format!("INSERT INTO `{rebuilt}` SELECT * FROM `{t}`"),
    )
    .await?;
    exec(
        client,
        &format!("RENAME TABLE `{t}` TO `{before}`, `{rebuilt}` TO `{t}`"),
    )
    .await?;
    exec(client, &format!("DROP TABLE IF EXISTS `{before}`")).await?;
    tracing::info!(table = t, "rebuilt");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_statement_and_nothing_else() {
        let r = Repartition::parse(
            "REPARTITION TABLE journeys ENGINE = ReplacingMergeTree(version) PARTITION BY x ORDER BY k",
        )
        .unwrap();
        assert_eq!(r.table, "journeys");
        assert_eq!(
            r.engine_clause,
            "ENGINE = ReplacingMergeTree(version) PARTITION BY x ORDER BY k"
        );
        assert!(Repartition::parse("ALTER TABLE journeys ADD COLUMN x UInt8").is_none());
        assert!(Repartition::parse("REPARTITION TABLE j; DROP TABLE x").is_none());
        assert!(Repartition::parse("REPARTITION TABLE `j` ENGINE = Null").is_none());
        assert!(Repartition::parse("REPARTITION TABLE").is_none());
    }
}

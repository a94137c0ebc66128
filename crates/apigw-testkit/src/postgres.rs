//! PostgreSQL for the tests: the shared server, and a schema of its own per test.

/// The PostgreSQL server tests use (`APIGW_TEST_PG_URL`, default the local one).
pub fn pg_base() -> String {
    std::env::var("APIGW_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own for one test; [`PgSchema::url`] points a store at it.
#[derive(Debug)]
pub struct PgSchema {
    pub name: String,
}

impl PgSchema {
    pub async fn create() -> Self {
        let name = format!("t_{}", apigw_model::id::new_id());
        let (c, conn) = tokio_postgres::connect(&pg_base(), tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL answers at APIGW_TEST_PG_URL (scripts/test.sh starts one)");
        tokio::spawn(conn);
        c.batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Self { name }
    }

    /// The store URL of this schema, through `host_port` (the server's, or a proxy's).
    pub fn url_via(&self, host_port: &str) -> String {
        let base = pg_base().replace("127.0.0.1:5432", host_port);
        format!("{base}?options=-c%20search_path%3D{}", self.name)
    }

    pub fn url(&self) -> String {
        self.url_via("127.0.0.1:5432")
    }

    /// Drops the schema (at the end of a passing test).
    pub async fn drop_schema(self) {
        let (c, conn) = tokio_postgres::connect(&pg_base(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .unwrap();
    }
}

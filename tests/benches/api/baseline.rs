//! What the API figures are compared with, loaded by the same load generator in the same
//! run: a bare actix-web server (HTTP alone) and raw PostgreSQL doing the writes of an order.

use actix_web::{web, App, HttpResponse, HttpServer};
use orderflow_tests::Env;
use platform::{config::DatabaseSettings, db, secret::Secret};
use schemas::{codec, DomainEvent};
use std::sync::Arc;
use uuid::Uuid;

/// An actix-web server in this process answering `POST /orders` (parses the JSON body, 202
/// with a small JSON) and `GET /orders/{id}` (200 with a small JSON), with actix's default
/// worker count, as the services have.
pub struct BareServer {
    pub port: u16,
    handle: actix_web::dev::ServerHandle,
}

impl BareServer {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bare server binds");
        let port = listener.local_addr().expect("bound address").port();
        let server = HttpServer::new(|| {
            App::new()
                .route("/orders", web::post().to(accept))
                .route("/orders/{id}", web::get().to(show))
        })
        .listen(listener)
        .expect("bare server listens")
        .disable_signals()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        BareServer { port, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

async fn accept(body: web::Json<serde_json::Value>) -> HttpResponse {
    let order_id = Uuid::now_v7();
    HttpResponse::Accepted()
        .insert_header(("Location", format!("/orders/{order_id}")))
        .json(serde_json::json!({
            "order_id": order_id,
            "customer_id": body["customer_id"],
            "status": "PENDING",
            "version": 0,
        }))
}

async fn show(id: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "order_id": id.into_inner(),
        "status": "PENDING",
        "version": 0,
    }))
}

/// A database with the order-service's tables and the platform's outbox, and the rows an
/// accepted order writes there (the order, its first view, the outbox row).
pub struct RawPostgres {
    url: String,
    /// The Avro datum of an `OrderPlaced` of the bench's order, as the outbox stores it.
    datum: Arc<Vec<u8>>,
}

impl RawPostgres {
    /// A fresh database with the tables. With `notify`, the outbox also gets a NOTIFY trigger
    /// per insert, which the services do not have, to show what one costs.
    pub async fn create(env: &Env, notify: bool) -> Self {
        let url = env.fresh_database().await;
        let pool = db::pool(&DatabaseSettings::new(Secret::new(url.clone()), 1)).expect("pool");
        // The order-service's own migrations, so the baseline writes exactly its rows and
        // indexes.
        db::migrate(&pool, order_service::startup::MIGRATIONS)
            .await
            .expect("baseline tables");
        if notify {
            pool.get()
                .await
                .expect("connection")
                .batch_execute(
                    "CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN PERFORM pg_notify('outbox', ''); RETURN NULL; END $$;
                     CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
                         FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();",
                )
                .await
                .expect("trigger created");
        }
        let event: DomainEvent = crate::common::sample_order("bench-customer-1".into()).into();
        RawPostgres {
            url,
            datum: Arc::new(codec::encode_datum(&event).expect("event encodes")),
        }
    }

    /// Drops the database, even while connections to it are still open.
    pub async fn drop_database(&self, env: &Env) {
        let name = self
            .url
            .rsplit('/')
            .next()
            .expect("database URL ends in /<name>");
        let (client, connection) =
            tokio_postgres::connect(&env.admin_database_url, tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL reachable");
        tokio::spawn(connection);
        if let Err(e) = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
        {
            eprintln!("warning: database {name} not dropped: {e}");
        }
    }

    /// A connection with the two inserts prepared.
    pub async fn connect(&self) -> RawWriter {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("baseline database reachable");
        tokio::spawn(connection);
        let order = client
            .prepare(order_service::core::place::INSERT_ORDER)
            .await
            .expect("order insert prepared");
        let outbox = client
            .prepare(platform::outbox::INSERT_ROW)
            .await
            .expect("outbox insert prepared");
        RawWriter {
            client,
            order,
            outbox,
            datum: self.datum.clone(),
        }
    }
}

pub struct RawWriter {
    client: tokio_postgres::Client,
    order: tokio_postgres::Statement,
    outbox: tokio_postgres::Statement,
    datum: Arc<Vec<u8>>,
}

impl RawWriter {
    /// One accepted order: the order row and its outbox row in one transaction.
    pub async fn place(&mut self, body: &serde_json::Value) -> bool {
        let order_id = Uuid::now_v7();
        let key: Option<&str> = None;
        let write = async {
            let tx = self.client.transaction().await?;
            tx.execute(
                &self.order,
                &[
                    &order_id,
                    &body["customer_id"].as_str(),
                    &"EUR",
                    &body["items"],
                    &8548i64,
                    &key,
                    body,
                ],
            )
            .await?;
            tx.execute(
                &self.outbox,
                &[
                    &Uuid::new_v4(),
                    &"orders",
                    &order_id.to_string(),
                    &"orderflow.orders.OrderPlaced",
                    &self.datum.as_slice(),
                    &None::<&str>,
                    &(schemas::EventType::OrderPlaced.newest_version() as i32),
                ],
            )
            .await?;
            tx.commit().await
        };
        write.await.is_ok()
    }
}

use shipping_service::{settings::Settings, startup::Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = platform::telemetry::init("shipping-service")?;
    let settings = Settings::load()?;
    let shutdown = platform::shutdown::on_signal();
    Application::build(settings, shutdown)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}

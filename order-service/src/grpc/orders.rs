//! The `orderflow.v1.Orders` handlers: extract, call [`crate::core`], map the result. Errors
//! become statuses in [`super::status`].

use super::{convert, status, watch, OrdersApi};
use crate::{
    core::{
        cancel::{self, CancelOutcome},
        follow::Follower,
        place,
        query::{self, ListFilter},
    },
    domain::new_order::NewOrder,
};
use orderflow_proto::v1::{
    orders_server::Orders, CancelOrderRequest, CancelOrderResponse, GetOrderRequest,
    ListOrdersRequest, ListOrdersResponse, Order, PlaceOrderRequest, WatchOrderRequest,
};
use tonic::{Request, Response, Status};

/// The metadata key of the idempotency key; REST's `Idempotency-Key` header, lower-cased as
/// gRPC metadata must be.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

#[tonic::async_trait]
impl Orders for OrdersApi {
    #[tracing::instrument(skip_all, fields(order_id = tracing::field::Empty))]
    async fn place_order(
        &self,
        request: Request<PlaceOrderRequest>,
    ) -> Result<Response<Order>, Status> {
        let raw_key = request
            .metadata()
            .get(IDEMPOTENCY_KEY)
            .map(|v| v.as_bytes());
        let key = place::idempotency_key(raw_key, IDEMPOTENCY_KEY)
            .map_err(|e| status::invalid(vec![e]))?;
        let order = NewOrder::try_from(convert::new_order_request(request.get_ref()))
            .map_err(status::invalid)?;
        let order_id = place::place_order(&self.pool, &order, key).await?;
        tracing::Span::current().record("order_id", tracing::field::display(order_id));
        let view = query::find_order(&self.pool, order_id).await?;
        Ok(Response::new(convert::order(view)))
    }

    #[tracing::instrument(skip_all, fields(order_id = %request.get_ref().order_id))]
    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<Order>, Status> {
        let order_id = convert::order_id(&request.get_ref().order_id)?;
        let view = query::find_order(&self.pool, order_id).await?;
        Ok(Response::new(convert::order(view)))
    }

    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let request = request.into_inner();
        let filter =
            ListFilter::try_from(convert::list_query(&request)).map_err(status::invalid)?;
        let page = query::list_orders(&self.pool, &filter).await?;
        Ok(Response::new(ListOrdersResponse {
            items: page.items.into_iter().map(convert::order).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    #[tracing::instrument(skip_all, fields(order_id = %request.get_ref().order_id))]
    async fn cancel_order(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        let order_id = convert::order_id(&request.get_ref().order_id)?;
        let outcome = cancel::request_cancellation(&self.pool, order_id).await?;
        let view = query::find_order(&self.pool, order_id).await?;
        Ok(Response::new(CancelOrderResponse {
            order: Some(convert::order(view)),
            already_cancelled: outcome == CancelOutcome::AlreadyCancelled,
        }))
    }

    type WatchOrderStream = watch::OrderStream;

    #[tracing::instrument(skip_all, fields(order_id = %request.get_ref().order_id))]
    async fn watch_order(
        &self,
        request: Request<WatchOrderRequest>,
    ) -> Result<Response<Self::WatchOrderStream>, Status> {
        let order_id = convert::order_id(&request.get_ref().order_id)?;
        let deadline = watch::deadline(request.metadata());
        let (follower, now) = Follower::start(&self.pool, &self.watchers, order_id).await?;
        Ok(Response::new(watch::order_stream(follower, now, deadline)))
    }
}

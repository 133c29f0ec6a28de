//! Webhook endpoints of subscribers, and their delivery log.

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    call::Call,
    convert::{new_id, to_timestamp},
    names::{region_error, region_parent, top_level_id},
    validate::Checks,
};
use shequ_proto::warnings::v1 as pb;

use super::{Context, access};
use crate::{
    domain::webhook::{EventType, forbidden, new_secret, parse_target},
    store::{Delivery, DeliveryState, Endpoint, Store},
    webhooks::SECRET_CONTEXT,
};

fn event_pb(event: EventType) -> pb::WebhookEventType {
    match event {
        EventType::Raised => pb::WebhookEventType::WarningRaised,
        EventType::Escalated => pb::WebhookEventType::WarningEscalated,
        EventType::Overdue => pb::WebhookEventType::WarningOverdue,
        EventType::Resolved => pb::WebhookEventType::WarningResolved,
    }
}

fn event_type(value: i32) -> Option<EventType> {
    match pb::WebhookEventType::try_from(value).ok()? {
        pb::WebhookEventType::WarningRaised => Some(EventType::Raised),
        pb::WebhookEventType::WarningEscalated => Some(EventType::Escalated),
        pb::WebhookEventType::WarningOverdue => Some(EventType::Overdue),
        pb::WebhookEventType::WarningResolved => Some(EventType::Resolved),
        pb::WebhookEventType::Unspecified => None,
    }
}

fn endpoint_pb(endpoint: &Endpoint) -> pb::WebhookEndpoint {
    pb::WebhookEndpoint {
        name: endpoint.name(),
        display_name: endpoint.display_name.clone(),
        url: endpoint.url.clone(),
        region: endpoint.region.to_string(),
        event_types: endpoint
            .event_types
            .iter()
            .map(|e| event_pb(*e) as i32)
            .collect(),
        creator: endpoint.creator.clone(),
        create_time: Some(to_timestamp(endpoint.create_time)),
    }
}

fn delivery_pb(delivery: &Delivery) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        name: format!(
            "webhookEndpoints/{}/deliveries/{}",
            delivery.endpoint_id, delivery.id
        ),
        webhook_id: delivery.id.clone(),
        event_type: event_pb(delivery.event_type) as i32,
        warning: format!("warnings/{}", delivery.warning_id),
        state: match delivery.state {
            DeliveryState::Pending => pb::DeliveryState::Pending,
            DeliveryState::Delivered => pb::DeliveryState::Delivered,
            DeliveryState::Failed => pb::DeliveryState::Failed,
            DeliveryState::Cancelled => pb::DeliveryState::Cancelled,
        } as i32,
        create_time: Some(to_timestamp(delivery.create_time)),
        next_attempt_time: delivery.next_attempt.map(to_timestamp),
        deliver_time: delivery.deliver_time.map(to_timestamp),
        attempts: delivery
            .attempt_log
            .iter()
            .map(|a| pb::DeliveryAttempt {
                number: a.number as i32,
                start_time: Some(to_timestamp(a.start)),
                status_code: a.status_code as i32,
                error: a.error.clone(),
            })
            .collect(),
    }
}

/// Loads a live endpoint the caller administers: NOT_FOUND when missing, deleted or out of scope.
async fn load(
    ctx: &Context,
    call: &Call,
    field: &str,
    name: &str,
    operation: &str,
) -> Result<Endpoint, Error> {
    let caller = call.caller();
    caller.require_any(access::ADMINS, operation)?;
    let id = top_level_id(field, name, "webhookEndpoints")?;
    let endpoint = ctx
        .store
        .endpoint(id)
        .await?
        .filter(|e| !e.deleted && caller.covers(e.region))
        .ok_or_else(|| Error::not_found(name))?;
    call.target(&endpoint.name(), endpoint.region);
    Ok(endpoint)
}

pub(crate) async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateWebhookEndpointRequest,
) -> Result<pb::CreateWebhookEndpointResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::ADMINS, "CreateWebhookEndpoint")?;
    let input = request.webhook_endpoint.unwrap_or_default();
    let mut checks = Checks::new();
    let display_name = checks.text("webhook_endpoint.display_name", &input.display_name, 100);
    let url = match parse_target(input.url.trim()) {
        Err(why) => checks.refuse("webhook_endpoint.url", "WEBHOOK_URL_INVALID", why),
        Ok(target) => match target.host.parse::<std::net::IpAddr>() {
            Ok(ip) if forbidden(ip) && !ctx.settings.webhook_allow_private_targets => checks
                .refuse(
                    "webhook_endpoint.url",
                    "WEBHOOK_TARGET_FORBIDDEN",
                    format!(
                        "{ip} is a loopback, private, link-local or reserved address; this \
                         deployment does not send webhooks there"
                    ),
                ),
            _ => checks.take(Ok(input.url.trim().to_owned())),
        },
    };
    let region = checks.take(
        ctx.kit
            .regions
            .known(&input.region)
            .map_err(|e| region_error("webhook_endpoint.region", e)),
    );
    let mut types = Vec::new();
    for (i, value) in input.event_types.iter().enumerate() {
        let field = format!("webhook_endpoint.event_types[{i}]");
        match event_type(*value) {
            None => checks.rule(
                true,
                &field,
                "ENUM_VALUE_UNKNOWN",
                format!("{value} is not an event type"),
            ),
            Some(event) if types.contains(&event) => {
                checks.rule(true, &field, "EVENT_TYPE_DUPLICATE", "each event type once");
            }
            Some(event) => types.push(event),
        }
    }
    let valid = checks.finish()?;
    let region = valid.value(region);
    caller.require_scope(region, "webhook_endpoint.region")?;
    let endpoint = Endpoint {
        id: new_id(),
        display_name: valid.value(display_name),
        url: valid.value(url),
        region,
        event_types: types,
        deleted: false,
        creator: caller.subject.clone(),
        create_time: ctx.kit.clock.now(),
    };
    let secret = new_secret();
    let sealed = ctx
        .kit
        .keys
        .personal_data
        .encrypt(secret.as_bytes(), SECRET_CONTEXT);
    call.target(&endpoint.name(), region);
    let mut tx = call.begin(ctx.store.database()).await?;
    Store::insert_endpoint(&mut tx, &endpoint, &sealed).await?;
    tx.commit().await?;
    Ok(pb::CreateWebhookEndpointResponse {
        webhook_endpoint: Some(endpoint_pb(&endpoint)),
        secret,
    })
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetWebhookEndpointRequest,
) -> Result<pb::WebhookEndpoint, Error> {
    let endpoint = load(ctx, call, "name", &request.name, "GetWebhookEndpoint").await?;
    Ok(endpoint_pb(&endpoint))
}

#[derive(Serialize, Deserialize)]
struct IdCursor {
    id: String,
}

pub(crate) async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListWebhookEndpointsRequest,
) -> Result<pb::ListWebhookEndpointsResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::ADMINS, "ListWebhookEndpoints")?;
    let scope = region_parent(&ctx.kit.regions, "parent", &request.parent)?;
    let page = ctx.kit.tokens.page::<_, IdCursor>(&request)?;
    caller.require_scope(scope, "parent")?;
    let after = page.cursor.as_ref().map_or("", |c| c.id.as_str());
    let mut endpoints = ctx.store.endpoints(scope, after, page.fetch()).await?;
    let next_page_token = page.next(&mut endpoints, |last| IdCursor {
        id: last.id.clone(),
    });
    Ok(pb::ListWebhookEndpointsResponse {
        webhook_endpoints: endpoints.iter().map(endpoint_pb).collect(),
        next_page_token,
    })
}

pub(crate) async fn delete(
    ctx: &Context,
    call: &Call,
    request: pb::DeleteWebhookEndpointRequest,
) -> Result<(), Error> {
    let endpoint = load(ctx, call, "name", &request.name, "DeleteWebhookEndpoint").await?;
    let mut tx = call.begin(ctx.store.database()).await?;
    let deleted = Store::delete_endpoint(&mut tx, &endpoint.id, ctx.kit.clock.now()).await?;
    if !tx.commit_if(deleted).await? {
        return Err(Error::not_found(&request.name));
    }
    Ok(())
}

pub(crate) async fn deliveries(
    ctx: &Context,
    call: &Call,
    request: pb::ListWebhookDeliveriesRequest,
) -> Result<pb::ListWebhookDeliveriesResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::ADMINS, "ListWebhookDeliveries")?;
    let id = top_level_id("parent", &request.parent, "webhookEndpoints")?;
    // The log of a deleted endpoint stays readable.
    let endpoint = ctx
        .store
        .endpoint(id)
        .await?
        .filter(|e| caller.covers(e.region))
        .ok_or_else(|| Error::not_found(&request.parent))?;
    let page = ctx.kit.tokens.page::<_, IdCursor>(&request)?;
    let before = page.cursor.as_ref().map_or("", |c| c.id.as_str());
    let mut deliveries = ctx
        .store
        .deliveries(&endpoint.id, before, page.fetch())
        .await?;
    let next_page_token = page.next(&mut deliveries, |last| IdCursor {
        id: last.id.clone(),
    });
    Ok(pb::ListWebhookDeliveriesResponse {
        deliveries: deliveries.iter().map(delivery_pb).collect(),
        next_page_token,
    })
}

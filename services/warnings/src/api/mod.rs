//! The gRPC face of the warnings service: each handler authorises, parses the request into
//! domain values (collecting every violation), and calls the domain and the store.

mod access;
mod cap;
mod catalogue;
pub(crate) mod convert;
mod ingest;
mod meetings;
mod names;
mod notifications;
pub(crate) mod open311;
mod policy;
mod statistics;
mod terminals;
mod warnings;
mod webhooks;

use std::sync::Arc;

use shequ_kit::service::Kit;
use shequ_proto::{
    audit::v1 as audit_pb,
    warnings::v1::{
        self as pb,
        warnings_service_server::{WarningsService, WarningsServiceServer},
    },
};

use crate::store::Store;

/// Wakes this replica's background jobs after a change they may have work from.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    /// The deadline scheduler (a deadline may be due sooner).
    pub(crate) deadlines: tokio::sync::Notify,
    /// The webhook sender (deliveries may be queued).
    pub(crate) webhooks: tokio::sync::Notify,
}

impl Wakers {
    /// Wakes both.
    pub(crate) fn wake(&self) {
        self.deadlines.notify_one();
        self.webhooks.notify_one();
    }
}

/// Everything a handler needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) kit: Kit,
    pub(crate) store: Store,
    pub(crate) settings: crate::Settings,
    pub(crate) wakers: Arc<Wakers>,
}

impl Context {
    /// Tells the background jobs that a change committed.
    pub(crate) fn changed(&self) {
        self.wakers.wake();
    }
}

shequ_kit::grpc_service! {
    /// The implementation of `shequ.warnings.v1.WarningsService`.
    pub struct WarningsApi(Context): WarningsService via WarningsServiceServer {
        read "GetWarningPolicy" get_warning_policy(pb::GetWarningPolicyRequest) -> pb::WarningPolicy => policy::get;
        write "UpdateWarningPolicy" update_warning_policy(pb::UpdateWarningPolicyRequest) -> pb::WarningPolicy => policy::update;
        create "CreateWarning" create_warning(pb::CreateWarningRequest) -> pb::Warning => warnings::create;
        read "GetWarning" get_warning(pb::GetWarningRequest) -> pb::Warning => warnings::get;
        read "ListWarnings" list_warnings(pb::ListWarningsRequest) -> pb::ListWarningsResponse => warnings::list;
        create "AcknowledgeWarning" acknowledge_warning(pb::AcknowledgeWarningRequest) -> pb::Warning => warnings::acknowledge;
        create "StartHandlingWarning" start_handling_warning(pb::StartHandlingWarningRequest) -> pb::Warning => warnings::start_handling;
        create "ResolveWarning" resolve_warning(pb::ResolveWarningRequest) -> pb::Warning => warnings::resolve;
        create "CloseWarning" close_warning(pb::CloseWarningRequest) -> pb::Warning => warnings::close;
        create "EscalateWarning" escalate_warning(pb::EscalateWarningRequest) -> pb::Warning => warnings::escalate;
        create "AssignWarning" assign_warning(pb::AssignWarningRequest) -> pb::Warning => warnings::assign;
        read "ListWarningHistoryEntries" list_warning_history_entries(pb::ListWarningHistoryEntriesRequest) -> pb::ListWarningHistoryEntriesResponse => warnings::history;
        create "CreateConsultation" create_consultation(pb::CreateConsultationRequest) -> pb::Consultation => meetings::create_consultation;
        read "ListConsultations" list_consultations(pb::ListConsultationsRequest) -> pb::ListConsultationsResponse => meetings::list_consultations;
        create "CreateTaskForce" create_task_force(pb::CreateTaskForceRequest) -> pb::TaskForce => meetings::create_task_force;
        read "ListTaskForces" list_task_forces(pb::ListTaskForcesRequest) -> pb::ListTaskForcesResponse => meetings::list_task_forces;
        read "ListNotifications" list_notifications(pb::ListNotificationsRequest) -> pb::ListNotificationsResponse => notifications::list;
        create "CreateIndicator" create_indicator(pb::CreateIndicatorRequest) -> pb::Indicator => catalogue::create_indicator;
        read "GetIndicator" get_indicator(pb::GetIndicatorRequest) -> pb::Indicator => catalogue::get_indicator;
        read "ListIndicators" list_indicators(pb::ListIndicatorsRequest) -> pb::ListIndicatorsResponse => catalogue::list_indicators;
        write "UpdateIndicator" update_indicator(pb::UpdateIndicatorRequest) -> pb::Indicator => catalogue::update_indicator;
        create "CreateThresholdRule" create_threshold_rule(pb::CreateThresholdRuleRequest) -> pb::ThresholdRule => catalogue::create_rule;
        read "GetThresholdRule" get_threshold_rule(pb::GetThresholdRuleRequest) -> pb::ThresholdRule => catalogue::get_rule;
        read "ListThresholdRules" list_threshold_rules(pb::ListThresholdRulesRequest) -> pb::ListThresholdRulesResponse => catalogue::list_rules;
        write "UpdateThresholdRule" update_threshold_rule(pb::UpdateThresholdRuleRequest) -> pb::ThresholdRule => catalogue::update_rule;
        create "CreateTerminal" create_terminal(pb::CreateTerminalRequest) -> pb::CreateTerminalResponse => terminals::create;
        read "GetTerminal" get_terminal(pb::GetTerminalRequest) -> pb::Terminal => terminals::get;
        read "ListTerminals" list_terminals(pb::ListTerminalsRequest) -> pb::ListTerminalsResponse => terminals::list;
        create "RevokeTerminal" revoke_terminal(pb::RevokeTerminalRequest) -> pb::Terminal => terminals::revoke;
        create "CreateWebhookEndpoint" create_webhook_endpoint(pb::CreateWebhookEndpointRequest) -> pb::CreateWebhookEndpointResponse => webhooks::create;
        read "GetWebhookEndpoint" get_webhook_endpoint(pb::GetWebhookEndpointRequest) -> pb::WebhookEndpoint => webhooks::get;
        read "ListWebhookEndpoints" list_webhook_endpoints(pb::ListWebhookEndpointsRequest) -> pb::ListWebhookEndpointsResponse => webhooks::list;
        write "DeleteWebhookEndpoint" delete_webhook_endpoint(pb::DeleteWebhookEndpointRequest) -> () => webhooks::delete;
        read "ListWebhookDeliveries" list_webhook_deliveries(pb::ListWebhookDeliveriesRequest) -> pb::ListWebhookDeliveriesResponse => webhooks::deliveries;
        read "GetWarningStatistics" get_warning_statistics(pb::GetWarningStatisticsRequest) -> pb::WarningStatistics => statistics::statistics;
        read "BatchGetSecretaryWarningSummaries" batch_get_secretary_warning_summaries(pb::BatchGetSecretaryWarningSummariesRequest) -> pb::BatchGetSecretaryWarningSummariesResponse => statistics::secretary_summaries;
        read "ListOpen311Services" list_open311_services(pb::ListOpen311ServicesRequest) -> pb::ListOpen311ServicesResponse => open311::list_services;
        write "CreateOpen311Request" create_open311_request(pb::CreateOpen311RequestRequest) -> pb::CreateOpen311RequestResponse => open311::create_request;
        read "GetOpen311Request" get_open311_request(pb::GetOpen311RequestRequest) -> pb::GetOpen311RequestResponse => open311::get_request;
        read "GetCapFeed" get_cap_feed(pb::GetCapFeedRequest) -> shequ_proto::HttpBody => cap::feed;
        read "ListAuditEntries" list_audit_entries(audit_pb::ListAuditEntriesRequest) -> audit_pb::ListAuditEntriesResponse => @kit shequ_kit::audit::list_entries;
        read "VerifyAuditLog" verify_audit_log(audit_pb::VerifyAuditLogRequest) -> audit_pb::VerifyAuditLogResponse => @kit shequ_kit::audit::verify_log;
    }
    by hand {
        /// BatchCreateReadings reads the terminal key from the request's metadata.
        async fn batch_create_readings(
            &self,
            request: tonic::Request<pb::BatchCreateReadingsRequest>,
        ) -> Result<tonic::Response<pb::BatchCreateReadingsResponse>, tonic::Status> {
            let key = ingest::terminal_key(request.metadata());
            let ctx = Arc::clone(&self.ctx);
            self.ctx
                .kit
                .recorder
                .write("BatchCreateReadings", request, |_| "", move |call, message| async move {
                    ingest::batch(&ctx, &call, message, key).await
                })
                .await
        }

        /// IngestReadings is client-streaming.
        async fn ingest_readings(
            &self,
            request: tonic::Request<tonic::Streaming<pb::IngestReadingsRequest>>,
        ) -> Result<tonic::Response<pb::IngestReadingsResponse>, tonic::Status> {
            ingest::stream(&self.ctx, request).await
        }
    }
}

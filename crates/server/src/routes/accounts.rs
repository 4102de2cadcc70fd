use axum::Json;
use axum::extract::State;
use keyward_api::ErrorBody;
use keyward_api::accounts::{AccountDetails, AccountDetailsRequest};

use crate::error::ApiError;
use crate::extract::{ApiJson, Authed};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(details))
}

#[utoipa::path(
    post,
    path = "/cckm/aws/accounts",
    tag = "kms",
    operation_id = "aws_account_details",
    summary = "The AWS account of a connection and its Regions (STS GetCallerIdentity, EC2 DescribeRegions)",
    request_body = AccountDetailsRequest,
    responses(
        (status = 200, description = "The account id and the Regions it can use, in AWS's order", body = AccountDetails),
        (status = 400, description = "No connection given, or a malformed role", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 502, description = "AWS refused the connection's credentials", body = ErrorBody),
    )
)]
async fn details(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<AccountDetailsRequest>,
) -> Result<Json<AccountDetails>, ApiError> {
    let a = s.keyward.account_details(&caller, req).await?;
    Ok(Json(AccountDetails {
        account_id: a.account_id,
        regions: a.regions,
    }))
}

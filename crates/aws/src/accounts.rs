//! Account details of a connection (`POST /cckm/aws/accounts`): the AWS account the
//! credentials belong to (STS GetCallerIdentity) and the Regions it can use (EC2
//! DescribeRegions), both through the connection's endpoint override and assumed role, exactly
//! as its KMS clients are made.
//!
//! DescribeRegions is one small signed query, made here with `aws-sigv4` (already compiled for
//! the SDK) and parsed with `aws-smithy-xml`, instead of through `aws-sdk-ec2`: that crate is
//! one of the largest of the SDK and would add minutes to every cold build for one call.

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_xml::decode::{Document, try_data};
use keyward_core::connections::{AwsAccount, ConnectionTarget};
use keyward_core::error::AwsErrorKind;
use keyward_core::{CoreError, CoreResult};

use crate::{AwsKms, observe};

const CONTEXT: &str = "Error reading the AWS account details";
const DESCRIBE_REGIONS: &str = "Action=DescribeRegions&Version=2016-11-15";

pub(crate) async fn account_details(kms: &AwsKms, t: &ConnectionTarget) -> CoreResult<AwsAccount> {
    let config = kms.clients.sdk_config(t).await;
    let sts = aws_sdk_sts::Client::new(&config);
    kms.limits
        .acquire(&t.connection_id, &t.region, "GetCallerIdentity")
        .await;
    let started = Instant::now();
    let who = sts.get_caller_identity().send().await;
    observe("GetCallerIdentity", started, who.is_ok());
    let who = who.map_err(|e| crate::map_sdk_error(CONTEXT, e))?;
    let account_id = who.account().unwrap_or_default().to_string();
    kms.limits
        .acquire(&t.connection_id, &t.region, "DescribeRegions")
        .await;
    let started = Instant::now();
    let regions = describe_regions(kms, &config, t).await;
    observe("DescribeRegions", started, regions.is_ok());
    Ok(AwsAccount {
        account_id,
        regions: regions?,
    })
}

/// The EC2 endpoint: the connection's override (an emulator, a VPC endpoint), else the one
/// the SDK configuration was given (`AWS_ENDPOINT_URL`, which the SDK clients of the same
/// connection use too), else the Region's own.
fn ec2_endpoint(t: &ConnectionTarget, config: &aws_config::SdkConfig) -> String {
    match t.endpoint_url.as_deref().or(config.endpoint_url()) {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if t.region.starts_with("cn-") => format!("https://ec2.{}.amazonaws.com.cn", t.region),
        None => format!("https://ec2.{}.amazonaws.com", t.region),
    }
}

fn unavailable(detail: impl Into<String>) -> CoreError {
    CoreError::AwsUnavailable {
        context: CONTEXT.into(),
        detail: detail.into(),
    }
}

fn invalid_response(message: impl Into<String>) -> CoreError {
    CoreError::Aws {
        context: CONTEXT.into(),
        code: "InvalidResponse".into(),
        message: message.into(),
        kind: AwsErrorKind::Other,
    }
}

/// The Regions the account can use, in AWS's order, without those it has not opted in to.
async fn describe_regions(
    kms: &AwsKms,
    config: &aws_config::SdkConfig,
    t: &ConnectionTarget,
) -> CoreResult<Vec<String>> {
    let provider = config
        .credentials_provider()
        .ok_or_else(|| CoreError::invalid("connection: it has no AWS credentials"))?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| CoreError::Aws {
            context: CONTEXT.into(),
            code: "CredentialsError".into(),
            message: format!("the connection's credentials could not be obtained: {e}"),
            kind: AwsErrorKind::AccessDenied,
        })?;
    let identity = creds.into();
    let s = kms.clients.settings();
    // No redirects (a 3xx would re-send the signed request, session token included, to
    // another host) and no proxy from the environment (the SDK's clients use none either).
    let client = reqwest::Client::builder()
        .connect_timeout(s.connect_timeout)
        .timeout(s.attempt_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| CoreError::internal(format!("HTTP client for EC2: {e}")))?;
    // DescribeRegions only reads: retried like the SDK retries, on throttling, AWS's own
    // failures and network errors, with backoff, within the operation timeout.
    let deadline = Instant::now().checked_add(s.operation_timeout);
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        let result: CoreResult<Vec<String>> = async {
            let url = format!("{}/", ec2_endpoint(t, config));
            let content_type = "application/x-www-form-urlencoded; charset=utf-8";
            let headers = [("content-type", content_type)];
            let signable = SignableRequest::new(
                "POST",
                url.as_str(),
                headers.iter().copied(),
                SignableBody::Bytes(DESCRIBE_REGIONS.as_bytes()),
            )
            .map_err(|e| CoreError::internal(format!("signing DescribeRegions: {e}")))?;
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&t.region)
                .name("ec2")
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| CoreError::internal(format!("signing DescribeRegions: {e}")))?
                .into();
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| CoreError::internal(format!("signing DescribeRegions: {e}")))?
                .into_parts();
            let mut req = client
                .post(&url)
                .header("content-type", content_type)
                .body(DESCRIBE_REGIONS);
            for (name, value) in instructions.headers() {
                req = req.header(name, value);
            }
            let resp = req.send().await.map_err(|e| {
                unavailable(if e.is_timeout() {
                    "the request timed out"
                } else {
                    "the connection failed"
                })
            })?;
            let status = resp.status();
            let body = read_bounded(resp).await?;
            if !status.is_success() {
                let (code, message) = parse_error(&body).unwrap_or_else(|| {
                    (
                        format!("HTTP{}", status.as_u16()),
                        "EC2 answered with an error".to_string(),
                    )
                });
                return Err(CoreError::Aws {
                    context: CONTEXT.into(),
                    kind: error_kind(&code, status.as_u16()),
                    code: clip(&code, 128),
                    message: clip(&message, 512),
                });
            }
            parse_regions(&body).map_err(invalid_response)
        }
        .await;
        let retryable = matches!(
            &result,
            Err(CoreError::AwsUnavailable { .. })
                | Err(CoreError::Aws {
                    kind: AwsErrorKind::Unavailable,
                    ..
                })
        );
        let time_left = deadline.map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if !retryable || attempt >= s.max_attempts || time_left <= backoff {
            return result;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        attempt += 1;
    }
}

/// The most of an EC2 answer read: DescribeRegions' answer is a few KiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The answer's body, refused past [`MAX_ANSWER_BYTES`] (an endpoint could send without end).
async fn read_bounded(mut resp: reqwest::Response) -> CoreResult<String> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(invalid_response(format!(
                        "EC2's answer is longer than {MAX_ANSWER_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return Err(unavailable("the connection closed without an answer")),
        }
    }
    String::from_utf8(body).map_err(|_| invalid_response("EC2's answer is not UTF-8"))
}

/// At most `max` characters of a text from the endpoint, for an error message.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// EC2's error codes that differ from KMS's; the rest are classified as KMS's are.
fn error_kind(code: &str, status: u16) -> AwsErrorKind {
    match code {
        "AuthFailure" | "UnauthorizedOperation" | "OptInRequired" | "Blocked" => {
            AwsErrorKind::AccessDenied
        }
        "InternalError" | "Unavailable" | "RequestLimitExceeded" => AwsErrorKind::Unavailable,
        _ => match AwsErrorKind::from_code(code) {
            AwsErrorKind::Other if status >= 500 => AwsErrorKind::Unavailable,
            kind => kind,
        },
    }
}

fn parse_regions(xml: &str) -> Result<Vec<String>, String> {
    let mut doc = Document::new(xml);
    let mut root = doc.root_element().map_err(|e| e.to_string())?;
    if !root.start_el().matches("DescribeRegionsResponse") {
        return Err("EC2's DescribeRegions answer is not a DescribeRegionsResponse".into());
    }
    let mut regions = Vec::new();
    while let Some(mut tag) = root.next_tag() {
        if !tag.start_el().matches("regionInfo") {
            continue;
        }
        while let Some(mut item) = tag.next_tag() {
            if !item.start_el().matches("item") {
                continue;
            }
            let mut name = None;
            let mut opt_in = None;
            while let Some(mut field) = item.next_tag() {
                if field.start_el().matches("regionName") {
                    name = Some(
                        try_data(&mut field)
                            .map_err(|e| e.to_string())?
                            .into_owned(),
                    );
                } else if field.start_el().matches("optInStatus") {
                    opt_in = Some(
                        try_data(&mut field)
                            .map_err(|e| e.to_string())?
                            .into_owned(),
                    );
                }
            }
            if let Some(name) = name
                && opt_in.as_deref() != Some("not-opted-in")
                && !name.is_empty()
            {
                regions.push(name);
            }
        }
    }
    Ok(regions)
}

/// `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors>…`.
fn parse_error(xml: &str) -> Option<(String, String)> {
    let mut doc = Document::new(xml);
    let mut root = doc.root_element().ok()?;
    while let Some(mut errors) = root.next_tag() {
        if !errors.start_el().matches("Errors") {
            continue;
        }
        while let Some(mut error) = errors.next_tag() {
            if !error.start_el().matches("Error") {
                continue;
            }
            let mut code = None;
            let mut message = String::new();
            while let Some(mut field) = error.next_tag() {
                if field.start_el().matches("Code") {
                    code = try_data(&mut field).ok().map(|s| s.into_owned());
                } else if field.start_el().matches("Message") {
                    message = try_data(&mut field)
                        .map(|s| s.into_owned())
                        .unwrap_or_default();
                }
            }
            return code.map(|c| (c, message));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_from_the_endpoint_are_clipped() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip(&"é".repeat(600), 512).chars().count(), 515);
        assert_eq!(clip("abcdef", 3), "abc...");
    }

    #[test]
    fn regions_keep_aws_order_without_those_not_opted_in() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
  <regionInfo>
    <item><regionName>us-east-2</regionName><regionEndpoint>ec2.us-east-2.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>
    <item><regionName>af-south-1</regionName><regionEndpoint>ec2.af-south-1.amazonaws.com</regionEndpoint><optInStatus>not-opted-in</optInStatus></item>
    <item><regionName>ap-east-1</regionName><regionEndpoint>ec2.ap-east-1.amazonaws.com</regionEndpoint><optInStatus>opted-in</optInStatus></item>
    <item><regionName>us-east-1</regionName><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint></item>
  </regionInfo>
</DescribeRegionsResponse>"#;
        assert_eq!(
            parse_regions(xml).unwrap_or_default(),
            ["us-east-2", "ap-east-1", "us-east-1"]
        );
    }

    #[test]
    fn an_ec2_error_gives_its_code_and_message() {
        let xml = "<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>x</RequestID></Response>";
        let (code, message) = parse_error(xml).unwrap_or_default();
        assert_eq!(code, "AuthFailure");
        assert!(message.starts_with("AWS was not able"));
        assert_eq!(error_kind(&code, 401), AwsErrorKind::AccessDenied);
    }
}

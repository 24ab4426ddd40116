//! `POST uploads` (multipart, one part named `file`, at most the channel's
//! `upload_max_bytes`) and `GET uploads/{id}` (to a holder of a token of the same
//! conversation only). Files are kept in the store ([`Store::put_upload`](crate::Store::put_upload)),
//! so every instance serves them. A file is served with `X-Content-Type-Options: nosniff`, a
//! sandboxing `Content-Security-Policy`, and as an attachment unless it is a raster image
//! (never SVG or HTML inline: an upload cannot run script on the server's origin).

use std::time::SystemTime;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use switchboard_core::model::AttachmentKind;
use switchboard_core::{ConversationRef, WebhookRequest};
use switchboard_webchat::token::UploadClaims;
use switchboard_webchat::wire::UploadResponse;
use switchboard_webchat::{Reason, Reply, WebchatAdapter, WebchatError};

use super::{WebFailure, refuse, respond, unavailable};
use crate::engine::Engine;
use crate::store::{Upload, conversation_key};
use crate::webchat::{clean_filename, clean_mime};

/// What a multipart body may carry beyond the file (boundaries, part headers).
const MULTIPART_OVERHEAD: usize = 64 * 1024;
/// Images shown inline; every other type is served as an attachment.
const INLINE: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

fn failure(reason: Reason, message: &str) -> WebFailure {
    WebFailure(WebchatError::new(reason, message))
}

/// An unguessable id: 128 random bits in hex.
fn new_id() -> Result<String, WebFailure> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|_| failure(Reason::Unavailable, "no randomness for an upload id"))?;
    Ok(hex::encode(bytes))
}

/// `POST uploads`.
pub(super) async fn post(
    engine: &Engine,
    adapter: &WebchatAdapter,
    parts: Parts,
    body: Body,
) -> Response {
    match store_upload(engine, adapter, parts, body).await {
        Ok(r) => respond(Reply::json(StatusCode::CREATED, &r)),
        Err(e) => e.into_response(),
    }
}

async fn store_upload(
    engine: &Engine,
    adapter: &WebchatAdapter,
    parts: Parts,
    body: Body,
) -> Result<UploadResponse, WebFailure> {
    let check = WebhookRequest {
        method: parts.method.clone(),
        url: String::new(),
        headers: parts.headers.clone(),
        body: Bytes::new(),
        received_at: SystemTime::now(),
    };
    let claims = adapter.authorize(&check)?;
    adapter.limit_visitor(&claims.conversation, check.received_at)?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        failure(
            Reason::UnsupportedMediaType,
            "send the file as multipart/form-data",
        )
    })?;
    let max = adapter.config().upload_max_bytes;
    let cap = usize::try_from(max).unwrap_or(usize::MAX);
    let too_large = || failure(Reason::UploadTooLarge, "the file is too large");
    let bytes = axum::body::to_bytes(body, cap.saturating_add(MULTIPART_OVERHEAD))
        .await
        .map_err(|_| too_large())?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let malformed = || failure(Reason::InvalidRequest, "the multipart body is malformed");
    while let Some(field) = multipart.next_field().await.map_err(|_| malformed())? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field
            .file_name()
            .and_then(clean_filename)
            .ok_or_else(|| failure(Reason::InvalidRequest, "the file part has no file name"))?;
        let mime_type = clean_mime(field.content_type().map(|m| m.as_ref()));
        let data = field.bytes().await.map_err(|_| malformed())?;
        if data.len() as u64 > max {
            return Err(too_large());
        }
        let to = ConversationRef::parse(adapter.channel().as_str(), &claims.conversation)
            .map_err(|_| failure(Reason::BadToken, "the token is not valid"))?;
        let id = new_id()?;
        let size = data.len() as u64;
        let upload = Upload::new(
            id.clone(),
            conversation_key(&to),
            filename.clone(),
            mime_type.clone(),
            data,
            SystemTime::now(),
        );
        engine.store.put_upload(&upload).await.map_err(|e| {
            tracing::error!(error = %e, "web chat: storing an upload failed");
            failure(Reason::Unavailable, "cannot store the file now; retry")
        })?;
        let reference = adapter.issue_upload(&UploadClaims {
            channel: adapter.channel().as_str().to_owned(),
            conversation: claims.conversation.clone(),
            id,
            mime_type: mime_type.clone(),
            filename: filename.clone(),
            size,
        });
        return Ok(UploadResponse {
            upload: reference,
            kind: AttachmentKind::from_mime(&mime_type),
            filename,
            mime_type,
            size,
        });
    }
    Err(failure(Reason::InvalidRequest, "no part named 'file'"))
}

/// `GET uploads/{id}`.
pub(super) async fn get(
    engine: &Engine,
    adapter: &WebchatAdapter,
    request: &WebhookRequest,
    id: &str,
) -> Response {
    let claims = match adapter.authorize(request) {
        Ok(c) => c,
        Err(e) => return respond(Reply::error(&e)),
    };
    let Ok(to) = ConversationRef::parse(adapter.channel().as_str(), &claims.conversation) else {
        return refuse(Reason::BadToken, "the token is not valid");
    };
    let upload = match engine.store.get_upload(id).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "web chat: reading an upload failed");
            return unavailable();
        }
    };
    // Another conversation's file is as absent as a file that never was.
    let Some(upload) = upload.filter(|u| u.conversation == conversation_key(&to)) else {
        return refuse(Reason::NotFound, "no such upload");
    };
    let mut r = Response::new(Body::from(upload.data));
    let h = r.headers_mut();
    let mime = HeaderValue::from_str(&upload.mime_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, mime);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    let disposition = if INLINE.contains(&upload.mime_type.as_str()) {
        "inline".to_owned()
    } else {
        let ascii: String = upload
            .filename
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("attachment; filename=\"{ascii}\"")
    };
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

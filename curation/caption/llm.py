"""``llm``: any OpenAI-compatible chat-completions endpoint with image input.

A hosted GPT-4-class model or a local vLLM / llama.cpp / Ollama server: ``POST {endpoint}/chat/completions``
with the image as a base64 ``data:`` URL (``image_url`` content part) and :data:`PROMPT`, which asks
for findings only (no identifiers, no advice, no guesses about the patient). The base URL and model
come from flags or ``MEDHARVEST_LLM_BASE_URL`` / ``MEDHARVEST_LLM_MODEL``; the key only from the
environment (``MEDHARVEST_LLM_API_KEY``, else ``OPENAI_API_KEY``), read by the CLI: it is sent in the
``Authorization`` header and appears in no log, run.json, caption or error message.

Transient failures (429, 5xx, connection errors, timeouts) are retried with exponential backoff
(``Retry-After`` wins when the server sends it); every request, retries included, counts against the
run's request budget (``max_requests``). When the budget is spent the remaining records fail with
"request budget exhausted" and a re-run resumes them. Other 4xx answers fail the record at once.
"""

from __future__ import annotations

import base64
import time

from curation.caption.base import CaptionFailure, CaptionInput, Captioner
from manifests.errors import UsageError

PROMPT_VERSION = "findings-only/1"
PROMPT = (
    "You are describing one medical image for a research dataset. Describe only what is visible: "
    "the imaging modality and view, the body part, and the radiological findings, including the "
    "absence of common findings where you can judge it (for a chest radiograph: heart size, pleural "
    "effusion, pneumothorax, consolidation, nodules or masses, devices). Write 1-4 short factual "
    "sentences in the style of a radiology report's findings section. Do not mention or guess names, "
    "dates, ages, identifiers, the hospital, or anything written in the image; give no advice or "
    "diagnosis beyond the image findings. If the image is not a medical image, say so in one sentence."
)
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class LlmCaptioner(Captioner):
    name = "llm"
    prompt_version = PROMPT_VERSION

    def __init__(self, settings):
        super().__init__(settings)
        if not settings.endpoint:
            raise UsageError("the llm captioner needs --endpoint URL (or MEDHARVEST_LLM_BASE_URL), "
                             "e.g. http://127.0.0.1:8000/v1")
        if not settings.endpoint.startswith(("http://", "https://")):
            raise UsageError(f"--endpoint '{settings.endpoint}' must be an http(s) URL")
        if not settings.model:
            raise UsageError("the llm captioner needs --model NAME (or MEDHARVEST_LLM_MODEL)")
        self.url = settings.endpoint.rstrip("/") + "/chat/completions"
        self.requests_made = 0
        self.session = None

    def provenance(self) -> dict:
        return {"model": self.settings.model, "weights_sha256": None, "endpoint": self.settings.endpoint.rstrip("/"),
                "prompt_version": self.prompt_version}

    def load(self) -> None:
        import requests

        self.session = requests.Session()
        self.session.headers["User-Agent"] = "medharvest (caption; +https://github.com/medharvest)"
        if self.settings.api_key:
            self.session.headers["Authorization"] = f"Bearer {self.settings.api_key}"

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, "[REDACTED]") if key else text

    def body(self, image_bytes: bytes, mime: str) -> dict:
        url = f"data:{mime};base64,{base64.b64encode(image_bytes).decode('ascii')}"
        return {"model": self.settings.model, "temperature": 0, "max_tokens": max(64, self.settings.max_new_tokens * 4),
                "messages": [{"role": "system", "content": PROMPT},
                             {"role": "user", "content": [
                                 {"type": "text", "text": "Describe the findings in this image."},
                                 {"type": "image_url", "image_url": {"url": url}}]}]}

    def _post(self, body: dict) -> str:
        import requests

        s = self.settings
        delay = s.backoff_s
        last = "no request made"
        for attempt in range(s.retries + 1):
            if self.requests_made >= s.max_requests:
                raise CaptionFailure(f"request budget exhausted ({s.max_requests} requests); a re-run resumes "
                                     f"(last problem: {last})")
            self.requests_made += 1
            try:
                resp = self.session.post(self.url, json=body, timeout=s.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as err:
                last = f"{type(err).__name__} from {self.url}"
                wait = delay
            else:
                if resp.status_code == 200:
                    return self._text(resp)
                snippet = self._redact(resp.text[:200].replace("\n", " "))
                last = f"HTTP {resp.status_code} from {self.url}: {snippet}"
                if resp.status_code not in RETRY_STATUS:
                    raise CaptionFailure(last)
                wait = _retry_after(resp.headers.get("Retry-After"), delay)
            if attempt < s.retries:
                time.sleep(wait)
                delay *= 2
        raise CaptionFailure(f"gave up after {s.retries + 1} attempts: {last}")

    def _text(self, resp) -> str:
        try:
            data = resp.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise CaptionFailure(f"unexpected answer from {self.url}: {type(err).__name__}") from None
        if isinstance(content, list):  # content parts
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        text = " ".join(str(content or "").split())
        if not text:
            raise CaptionFailure(f"empty caption from {self.url}")
        return text

    def caption_batch(self, items: list[CaptionInput]) -> list[str | CaptionFailure]:
        out: list[str | CaptionFailure] = []
        for it in items:
            try:
                data = it.image.read_bytes()
            except (OSError, AttributeError) as err:
                out.append(CaptionFailure(f"cannot read image '{it.image}': {err}"))
                continue
            mime = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
            try:
                out.append(self._post(self.body(data, mime)))
            except CaptionFailure as err:
                out.append(CaptionFailure(self._redact(str(err))))
        return out


def _retry_after(value: str | None, default: float) -> float:
    try:
        return min(max(float(value), 0.0), 60.0) if value is not None else default
    except ValueError:
        return default

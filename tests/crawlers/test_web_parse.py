"""Page parsing for the web source (no server): srcset, lazy data-src, base href, captions, licences."""

from __future__ import annotations

from pathlib import Path

from crawlers.webfigures import decoration, largest, parse_page, parse_sitemap, parse_srcset

WEB = Path(__file__).parent / "fixtures" / "web"
SITE = "https://health.example.org"


def figures(name: str, url: str):
    page = parse_page((WEB / name).read_bytes(), url)
    return page, {f.image_url.removeprefix(SITE): f for f in page.figures}


def test_index_page_figures_urls_text_and_licence():
    page, figs = figures("index.html", f"{SITE}/health/index.html")
    assert page.licence == "CC-BY-4.0" and page.licence_from == "rel=license"
    assert page.title == "Pneumonia imaging | Example Health Institute"
    lazy = figs["/health/images/cxr-rll-pneumonia.png"]           # data-src over a data: placeholder, base href
    assert lazy.chosen_from == "data-src" and lazy.caption.startswith("Figure 1. Right lower lobe consolidation")
    assert lazy.context.startswith("A chest radiograph is the first imaging test") and lazy.text == lazy.caption
    ct = figs["/health/images/ct-effusion-1200.png"]               # the widest srcset candidate
    assert ct.chosen_from == "srcset" and not ct.caption and ct.text.startswith("Axial CT of the chest")
    assert ct.context.startswith("Computed tomography is reserved") and (ct.width, ct.height) == (400, 300)
    assert "/private/patient-photo.jpg" in figs and "/static/eh-logo.png" in figs
    assert f"{SITE}/health/pneumonia.html" in page.links and f"{SITE}/private/records.html" in page.links
    assert "https://www.example.com/partner" in page.links and not any("#" in u for u in page.links)


def test_decoration_rules():
    _, figs = figures("index.html", f"{SITE}/health/index.html")
    why = {k: decoration(f, min_side=100) for k, f in figs.items()}
    assert why["/static/eh-logo.png"] == "'logo' in the image path"
    assert why["/static/icons/print.png"] == "'icon' in the image path"
    assert why["/health/images/divider.png"] == "empty alt text and no caption"
    assert why["/health/images/spacer.gif"] == 'role="presentation"'
    for keep in ("/health/images/cxr-rll-pneumonia.png", "/health/images/ct-effusion-1200.png",
                 "/health/images/mri-thumb.png", "/media/our-hospital.jpg"):
        assert why[keep] is None, keep
    assert "declared width 16" in decoration(figs["/static/icons/print.png"].__class__(
        page_url="", image_url="https://x/print.png", alt="Print", width=16, height=16), min_side=100)


def test_wikipedia_page_files_carry_commons_titles():
    page, figs = figures("wiki.html", f"{SITE}/wiki/Chest_radiograph")
    assert page.licence == "CC-BY-SA-4.0"                         # the footer's text licence
    big = figs["/upload/wikipedia/commons/thumb/a/a1/Chest_Xray_PA_3-8-2010.png/500px-Chest_Xray_PA_3-8-2010.png"]
    assert big.commons_title == "File:Chest Xray PA 3-8-2010.png" and big.caption.startswith("A normal posteroanterior")
    cover = next(f for f in page.figures if "Journal_cover" in f.image_url)
    assert cover.commons_title == "File:Radiology Journal cover 2019.jpg"
    logo = next(f for f in page.figures if "wikipedia.png" in f.image_url)
    assert decoration(logo, min_side=100) == 'aria-hidden="true"'


def test_srcset_sitemap_and_hints():
    assert largest(parse_srcset("a.png 1.5x, b.png 2x, c.png")) == "b.png"
    assert largest(parse_srcset("s.jpg 480w, data:image/gif;base64,AAAA 2000w, l.jpg 1080w")) == "l.jpg"
    pages, nested = parse_sitemap((WEB / "sitemap.xml").read_bytes())
    assert pages == [f"{SITE}/health/pneumonia.html", f"{SITE}/wiki/Chest_radiograph"] and nested == []
    index = b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>https://a/s1.xml</loc></sitemap></sitemapindex>'
    assert parse_sitemap(index) == ([], ["https://a/s1.xml"])
    page = parse_page((WEB / "index.html").read_bytes(), f"{SITE}/health/index.html", content_css="figure",
                      follow_xpath="//nav")
    assert all("/static/" not in f.image_url for f in page.figures) and len(page.figures) == 4
    assert f"{SITE}/health/pneumonia.html" in page.links and f"{SITE}/health/print.html" not in page.links


def test_query_keeps_only_figures_that_mention_it():
    from crawlers.web import Spider

    page, figs = figures("index.html", f"{SITE}/health/index.html")
    spider = Spider(query="Pleural Effusion", options={"start_urls": ["/health/index.html"]})
    ct = figs["/health/images/ct-effusion-1200.png"]
    cxr = figs["/health/images/cxr-rll-pneumonia.png"]
    assert spider._plan(ct.image_url, [(ct, page)])["status"] == "pending"
    assert "do not mention 'Pleural Effusion'" in spider._plan(cxr.image_url, [(cxr, page)])["error"]


def test_captions_without_figcaption_wordpress_and_infobox():
    html = """<html><body>
    <div id="attachment_7" class="wp-caption aligncenter"><img src="/wp/uploads/2024/cxr.jpg" alt="" width="600">
      <p class="wp-caption-text">Chest radiograph: left upper lobe collapse.</p></div>
    <table class="infobox"><tr><td class="infobox-image"><span typeof="mw:File/Frameless">
      <a href="/wiki/File:Lung_CT.png" class="mw-file-description"><img alt="" src="/upload/lung.png"></a></span>
      <div class="infobox-caption">CT of normal lungs</div></td></tr></table>
    <div class="gallery"><img src="/g/a.png" alt="a"><img src="/g/b.png" alt="b"><p class="caption">Two images</p></div>
    </body></html>"""
    page = parse_page(html, "https://site.example/post")
    caps = {f.image_url.rsplit("/", 1)[-1]: f.caption for f in page.figures}
    assert caps["cxr.jpg"] == "Chest radiograph: left upper lobe collapse." and caps["lung.png"] == "CT of normal lungs"
    assert caps["a.png"] == "" and caps["b.png"] == ""        # a caption shared by two images belongs to neither
    assert parse_page(html, "https://site.example/post", caption_css="").figures[0].caption == ""

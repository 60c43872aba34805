import Foundation

/// Minimal HTML escaping for text placed in the report pages.
func htmlEscaped(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// A line chart of curves as inline SVG (x from 0 to 1 over the steps, y from 0 to 1).
func svgLineChart(title: String, curves: [(name: String, values: [Double])], width: Int = 420, height: Int = 260) -> String {
    let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    let (left, right, top, bottom) = (44.0, 120.0, 24.0, 30.0)
    let w = Double(width) - left - right, h = Double(height) - top - bottom
    let ymax = max(1e-9, curves.flatMap(\.values).max() ?? 1)
    var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">"
    svg += "<text x=\"\(left)\" y=\"14\" font-weight=\"bold\">\(htmlEscaped(title))</text>"
    svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#999\"/>"
    for t in stride(from: 0.0, through: 1.0, by: 0.25) {
        let y = top + h * (1 - t)
        svg += "<text x=\"\(left - 4)\" y=\"\(y + 4)\" text-anchor=\"end\">\(String(format: "%.2f", t * ymax))</text>"
        let x = left + w * t
        svg += "<text x=\"\(x)\" y=\"\(top + h + 14)\" text-anchor=\"middle\">\(String(format: "%.2f", t))</text>"
    }
    svg += "<text x=\"\(left + w / 2)\" y=\"\(Double(height) - 2)\" text-anchor=\"middle\">fraction of pixels</text>"
    for (k, c) in curves.enumerated() where c.values.count > 1 {
        let n = Double(c.values.count - 1)
        let pts = c.values.enumerated().map { i, v in
            String(format: "%.1f,%.1f", left + w * Double(i) / n, top + h * (1 - v / ymax))
        }.joined(separator: " ")
        let color = palette[k % palette.count]
        svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\" points=\"\(pts)\"/>"
        svg += "<text x=\"\(left + w + 8)\" y=\"\(top + 12 + 14 * Double(k))\" fill=\"\(color)\">\(htmlEscaped(c.name))</text>"
    }
    return svg + "</svg>"
}

extension EvaluationReport {
    /// The report page: tables, mean curves per method, and a gallery of example maps.
    /// `gallery` maps image id → method → relative path of an overlay picture; `extra` is HTML placed
    /// after the gallery (the scanpath section).
    public func html(gallery: [(image: String, overlays: [String: String])], extra: String = "") -> String {
        var page = """
        <!doctype html><html><head><meta charset="utf-8"><title>FovEx evaluation: \(htmlEscaped(configuration.model))</title>
        <style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}
        td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
        .best{font-weight:bold}.second{text-decoration:underline}.ci{color:#666;font-size:85%}
        .gallery td{text-align:center;font-size:85%}.gallery img{width:160px;height:auto}</style></head><body>
        <h1>\(htmlEscaped(configuration.model)) on \(htmlEscaped(configuration.dataKind))</h1>
        <p>n = \(imageCount) images with every method; weights \(htmlEscaped(configuration.weights)); seed \(configuration.seed)\(configuration.correctOnly ? "; correctly classified images only" : ""); code \(htmlEscaped(configuration.codeVersion)).</p>
        <table><tr><th>metric</th>
        """
        page += methods.map { "<th>\(htmlEscaped($0))</th>" }.joined() + "</tr>"
        for m in metrics {
            page += "<tr><td>\(htmlEscaped(m)) \(arrow(m))</td>"
            for method in methods {
                guard let s = summaries[m]?[method] else { page += "<td>–</td>"; continue }
                let cls = ["", "best", "second"][place(m, method)]
                page += "<td class=\"\(cls)\">\(EvaluationReport.format(s.mean))<br><span class=\"ci\">[\(EvaluationReport.format(s.low)), \(EvaluationReport.format(s.high))]</span></td>"
            }
            page += "</tr>"
        }
        page += "</table>"
        if let note = unrankedNote { page += "<p>\(htmlEscaped(note))</p>" }
        for s in missingSections() {
            page += "<h2>\(htmlEscaped(s.title))</h2>" + (s.note.map { "<p>\(htmlEscaped($0))</p>" } ?? "")
            page += "<ul>" + s.items.map { "<li>\(htmlEscaped($0))</li>" }.joined() + "</ul>"
        }
        for curve in ["deletion", "insertion"] {
            let mc = meanCurves(curve)
            guard !mc.isEmpty else { continue }
            page += svgLineChart(title: "Mean \(curve) curve (p of the class)",
                                 curves: methods.compactMap { m in mc[m].map { (m, $0) } })
        }
        if !gallery.isEmpty {
            page += "<h2>Examples</h2><table class=\"gallery\"><tr><th>image</th>" + methods.map { "<th>\(htmlEscaped($0))</th>" }.joined() + "</tr>"
            for g in gallery {
                page += "<tr><td>\(htmlEscaped(g.image))</td>"
                for m in methods {
                    page += g.overlays[m].map { "<td><img src=\"\(htmlEscaped($0))\" alt=\"\(htmlEscaped(m))\"></td>" } ?? "<td>–</td>"
                }
                page += "</tr>"
            }
            page += "</table>"
        }
        return page + extra + "</body></html>\n"
    }
}

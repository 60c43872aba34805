import Foundation
import FovExTensor

/// An animated scanpath as an SVG document with SMIL animation: the fovea moves fixation by fixation
/// over the photo, the periphery is blurred, regions already fixated stay sharp as a fading memory,
/// and the numbered path builds up behind the fovea. It plays in any browser (an `<img>` or
/// `<object>` element) and loops.
///
/// The sharp region follows FovEx's foveation: the fovea is the Gaussian exp(−‖u − p‖² / σ_f) in the
/// model input's normalised units (−1…1 on each axis, so on a non-square photo it is an ellipse), and
/// after fixation i the memory is β·memory + fovea_i, so during fixation k an earlier fixation i shows
/// with weight β^(k−1−i). SVG composites the discs with "over" rather than FovEx's clipped sum, which
/// differs only where discs overlap. Human scanpaths use the same look with their recorded durations.
public struct ScanpathAnimation: Sendable {
    /// Fixations in pixels of the photo, in order.
    public var fixations: [(x: Float, y: Float)]
    /// Seconds each fixation is held; nil holds each for `secondsPerFixation`.
    public var durations: [Double]?
    /// Seconds each fixation is held when `durations` is nil.
    public var secondsPerFixation = 0.7
    /// Seconds the fovea takes to move between fixations.
    public var saccadeSeconds = 0.15
    /// Seconds the finished path stays on screen before the loop restarts.
    public var endPause = 1.5
    /// Fovea width σ_f in normalised units (FovEx's `--sigma`).
    public var foveaSigma: Float = 0.15
    /// Memory forgetting β (FovEx's `--forgetting`).
    public var forgetting: Float = 0.1
    /// Peripheral blur σ in pixels of the model input and the input's side, scaled to the photo.
    public var blurSigma: Float = 10
    /// The model input's side, which `blurSigma` is measured in.
    public var inputSize = 224
    /// Path colour (CSS), e.g. yellow for FovEx and cyan for a human observer.
    public var color = "#ffd400"
    /// The animation's caption.
    public var title: String
    /// The embedded photo's longer side at most (antialiased downscale; the drawing keeps the photo's
    /// coordinates), so that pages holding several animations stay small; nil embeds it as it is.
    public var embeddedMaxSide: Int?

    /// An animation of `fixations` (photo pixels), captioned `title`.
    public init(fixations: [(x: Float, y: Float)], durations: [Double]? = nil, title: String) {
        self.fixations = fixations
        self.durations = durations
        self.title = title
    }

    /// When fixation i starts, and the loop's length, in seconds.
    public var timeline: (starts: [Double], period: Double) {
        var starts: [Double] = []
        var t = 0.0
        for i in fixations.indices {
            if i > 0 { t += saccadeSeconds }
            starts.append(t)
            t += durations.map { max(0.05, $0[i]) } ?? secondsPerFixation
        }
        return (starts, t + endPause)
    }

    /// The SVG document, with the photo embedded as a JPEG.
    public func svg(photo: RGBImage, jpegQuality: Int = 85) throws -> String {
        let (w, h) = (photo.width, photo.height)
        var embedded = photo
        if let side = embeddedMaxSide, max(w, h) > side {
            let scale = Double(side) / Double(max(w, h))
            let (ew, eh) = (max(1, Int((Double(w) * scale).rounded())), max(1, Int((Double(h) * scale).rounded())))
            embedded = RGBImage(withoutGradients { photo.tensor().resized(height: eh, width: ew, method: .bilinear, antialias: true) })
        }
        let image = "data:image/jpeg;base64," + Data(try embedded.jpegData(quality: jpegQuality)).base64EncodedString()
        let (starts, period) = timeline
        let p = { (x: Double) in String(format: "%.4f", x) }
        let key = { (t: Double) in p(min(1, max(0, t / period))) }
        // Ellipse reaching exp(−4) of the fovea's peak: radius 2√σ_f normalised units = √σ_f · side.
        let reach = 2 * Double(foveaSigma).squareRoot()
        let (rx, ry) = (reach * Double(w) / 2, reach * Double(h) / 2)
        let (bx, by) = (Double(blurSigma) * Double(w) / Double(inputSize), Double(blurSigma) * Double(h) / Double(inputSize))
        let marker = max(7, Double(min(w, h)) / 30)
        let anim = "dur=\"\(p(period))s\" repeatCount=\"indefinite\""
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 \(w) \(h)" \
        width="\(w)" height="\(h)">
        <title>\(escaped(title))</title>
        <defs>
        <filter id="periphery" x="0" y="0" width="1" height="1"><feGaussianBlur stdDeviation="\(p(bx)) \(p(by))" edgeMode="duplicate"/></filter>
        <radialGradient id="fovea">
        """
        for k in 0...8 {
            let t = Double(k) / 8
            s += "<stop offset=\"\(p(t))\" stop-color=\"white\" stop-opacity=\"\(p(exp(-4 * t * t)))\"/>"
        }
        s += "</radialGradient>\n<mask id=\"sharp\" maskUnits=\"userSpaceOnUse\" x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\">\n"
        // Memory: fixation i's disc fades by β per later fixation.
        for (i, f) in fixations.enumerated() where i + 1 < fixations.count {
            var values = ["0"], keys = ["0"]
            for k in (i + 1)..<fixations.count {
                values.append(p(pow(Double(forgetting), Double(k - 1 - i))))
                keys.append(key(starts[k]))
            }
            s += "<ellipse cx=\"\(p(Double(f.x)))\" cy=\"\(p(Double(f.y)))\" rx=\"\(p(rx))\" ry=\"\(p(ry))\" fill=\"url(#fovea)\" opacity=\"0\">"
            s += "<animate attributeName=\"opacity\" calcMode=\"discrete\" values=\"\(values.joined(separator: ";"))\" "
            s += "keyTimes=\"\(keys.joined(separator: ";"))\" \(anim)/></ellipse>\n"
        }
        // The fovea: holds on each fixation, moves during saccades.
        if let first = fixations.first {
            var xs: [String] = [], ys: [String] = [], keys: [String] = []
            for (i, f) in fixations.enumerated() {
                let end = i + 1 < fixations.count ? starts[i + 1] - saccadeSeconds : period
                xs += [p(Double(f.x)), p(Double(f.x))]
                ys += [p(Double(f.y)), p(Double(f.y))]
                keys += [key(starts[i]), key(end)]
            }
            s += "<ellipse cx=\"\(p(Double(first.x)))\" cy=\"\(p(Double(first.y)))\" rx=\"\(p(rx))\" ry=\"\(p(ry))\" fill=\"url(#fovea)\">"
            s += "<animate attributeName=\"cx\" values=\"\(xs.joined(separator: ";"))\" keyTimes=\"\(keys.joined(separator: ";"))\" \(anim)/>"
            s += "<animate attributeName=\"cy\" values=\"\(ys.joined(separator: ";"))\" keyTimes=\"\(keys.joined(separator: ";"))\" \(anim)/>"
            s += "</ellipse>\n"
        }
        s += """
        </mask>
        </defs>
        <image xlink:href="\(image)" href="\(image)" width="\(w)" height="\(h)" filter="url(#periphery)"/>
        <image xlink:href="\(image)" href="\(image)" width="\(w)" height="\(h)" mask="url(#sharp)"/>
        <g fill="none" stroke="\(color)" stroke-width="\(p(max(1.5, marker / 4)))" stroke-linecap="round">

        """
        for (i, (a, b)) in zip(fixations, fixations.dropFirst()).enumerated() {
            s += "<line x1=\"\(p(Double(a.x)))\" y1=\"\(p(Double(a.y)))\" x2=\"\(p(Double(b.x)))\" y2=\"\(p(Double(b.y)))\" opacity=\"0\">"
            s += appear(at: key(starts[i + 1]), anim: anim) + "</line>\n"
        }
        s += "</g>\n<g font-family=\"sans-serif\" font-weight=\"bold\" font-size=\"\(p(marker))\" text-anchor=\"middle\">\n"
        for (i, f) in fixations.enumerated() {
            s += "<g opacity=\"0\">" + appear(at: key(starts[i]), anim: anim)
            s += "<circle cx=\"\(p(Double(f.x)))\" cy=\"\(p(Double(f.y)))\" r=\"\(p(marker))\" fill=\"\(color)\" stroke=\"black\" "
            s += "stroke-width=\"\(p(max(1, marker / 6)))\"/>"
            s += "<text x=\"\(p(Double(f.x)))\" y=\"\(p(Double(f.y) + marker * 0.36))\" fill=\"black\">\(i + 1)</text></g>\n"
        }
        s += "</g>\n</svg>\n"
        return s
    }

    /// An opacity animation that shows its element from `key` (a fraction of the loop) to the loop's end.
    private func appear(at key: String, anim: String) -> String {
        key == "0.0000"
            ? "<animate attributeName=\"opacity\" calcMode=\"discrete\" values=\"1\" keyTimes=\"0\" \(anim)/>"
            : "<animate attributeName=\"opacity\" calcMode=\"discrete\" values=\"0;1\" keyTimes=\"0;\(key)\" \(anim)/>"
    }

    /// Writes the SVG atomically.
    public func write(photo: RGBImage, to url: URL) throws {
        try AtomicFile.write(Array(try svg(photo: photo).utf8), to: url)
    }

    private func escaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}

import XCTest
final class PlaceholderFovExImagingTests: XCTestCase { func testNothing() {} }

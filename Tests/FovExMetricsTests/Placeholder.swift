import XCTest
final class PlaceholderFovExMetricsTests: XCTestCase { func testNothing() {} }

import XCTest
final class PlaceholderFovExModelsTests: XCTestCase { func testNothing() {} }
